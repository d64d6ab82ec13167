"""One CloudFormation template as the guard reads it: resources, references, what is stateful."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

STATEFUL_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable",
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBInstance",
        "AWS::DocDB::DBCluster",
        "AWS::KMS::Key",
        "AWS::SecretsManager::Secret",
        "AWS::Backup::BackupVault",
    }
)
"""Where the data, or what decrypts or restores it, lives."""
KEEPING_POLICIES = frozenset({"Retain", "RetainExceptOnCreate", "Snapshot"})
POLICY_STRENGTH = {"Delete": 0, "Snapshot": 1, "RetainExceptOnCreate": 2, "Retain": 2}
"""How much of a resource a policy keeps when CloudFormation removes or replaces it."""
IGNORED_TYPES = frozenset({"AWS::CDK::Metadata"})


class TemplateError(ValueError):
    """Not a CloudFormation template (no Resources object)."""


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: Mapping[str, Any]
    body: Mapping[str, Any]

    @property
    def deletion_policy(self) -> str:
        return str(self.body.get("DeletionPolicy", "Delete"))

    @property
    def update_replace_policy(self) -> str:
        return str(self.body.get("UpdateReplacePolicy", "Delete"))

    @property
    def stateful(self) -> bool:
        return self.type in STATEFUL_TYPES or bool(
            {self.deletion_policy, self.update_replace_policy} & KEEPING_POLICIES
        )

    @property
    def path(self) -> str | None:
        metadata = self.body.get("Metadata")
        found = metadata.get("aws:cdk:path") if isinstance(metadata, Mapping) else None
        return str(found) if found else None


class Template:
    """The resources of one template, by logical ID (CDK's metadata resource left out)."""

    def __init__(self, document: object, *, source: str) -> None:
        resources = document.get("Resources") if isinstance(document, Mapping) else None
        if not isinstance(resources, Mapping):
            raise TemplateError(f"{source} is not a CloudFormation template (no Resources)")
        self.source = source
        self.resources: dict[str, Resource] = {}
        for logical_id, body in resources.items():
            if not isinstance(body, Mapping) or not isinstance(body.get("Type"), str):
                raise TemplateError(f"{source}: resource {logical_id} has no Type")
            if body["Type"] in IGNORED_TYPES:
                continue
            properties = body.get("Properties")
            self.resources[str(logical_id)] = Resource(
                str(logical_id),
                body["Type"],
                properties if isinstance(properties, Mapping) else {},
                body,
            )

    def __contains__(self, logical_id: str) -> bool:
        return logical_id in self.resources

    def __getitem__(self, logical_id: str) -> Resource:
        return self.resources[logical_id]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources.values())


def references(value: object) -> set[str]:
    """The logical IDs ``value`` names through Ref, Fn::GetAtt or Fn::Sub (pseudo-parameters
    included: callers intersect with the resources they care about)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(target, str):
                    found.add(target.split(".", 1)[0])
            elif key == "Fn::Sub":
                found |= _sub_references(inner)
            found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def _sub_references(inner: object) -> set[str]:
    text = inner[0] if isinstance(inner, list) and inner else inner
    if not isinstance(text, str):
        return set()
    names = set()
    for part in text.split("${")[1:]:
        name = part.split("}", 1)[0]
        if not name.startswith("!"):
            names.add(name.split(".", 1)[0])
    return names


def value_at(properties: Mapping[str, Any], path: str) -> list[object]:
    """The values at a schema path (``A``, ``A/B``, ``A/*/B``); absent parts give nothing."""
    values: list[object] = [properties]
    for part in path.split("/"):
        next_values: list[object] = []
        for value in values:
            if part == "*" and isinstance(value, list):
                next_values.extend(value)
            elif isinstance(value, Mapping) and part in value:
                next_values.append(value[part])
        values = next_values
    return values


def as_list(value: object) -> list[Any]:
    """A list property as a list; anything else (an Fn::If, a typo) as nothing to iterate."""
    return value if isinstance(value, list) else []


def canonical(value: object) -> object:
    """``value`` as CloudFormation reads it: scalars as strings ("true" is true, "14" is 14),
    and ``Fn::GetAtt: "A.B"`` as ``["A", "B"]``, so that spelling is not a change."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, Mapping):
        if set(value) == {"Fn::GetAtt"} and isinstance(value["Fn::GetAtt"], str):
            return {"Fn::GetAtt": value["Fn::GetAtt"].split(".", 1)}
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value
