"""Which resources an update from one template to the next would replace, and why.

A resource is replaced when a create-only property of its schema changes, or when
such a property names (Ref, Fn::GetAtt, Fn::Sub) a resource that is itself
replaced: a new key has a new ARN, so a cluster whose ``KmsKeyId`` names the key
is replaced with it although its template text did not change. That is followed
to a fixed point.

Values are compared as CloudFormation reads them (`deployguard.template.canonical`).

Special cases the schemas do not express (they list these as conditional, or not at
all), which AWS documents as replacement: a table's ``KeySchema`` and
``LocalSecondaryIndexes``, and a key attribute's type in ``AttributeDefinitions``;
a cluster's ``Engine``, ``MasterUsername`` and ``AvailabilityZones``; an instance's
``Engine``. A GSI's key schema is a separate rule (`deployguard.rules.gsi_changes`):
it recreates the index, not the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from deployguard.schemas import ReplacementRules, rules_for
from deployguard.template import Resource, Template, as_list, canonical, references, value_at

TABLE_TYPES = frozenset({"AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"})
_TABLE_SPECIAL = ("KeySchema", "LocalSecondaryIndexes")
SPECIAL_CREATE_ONLY = {
    "AWS::DynamoDB::Table": _TABLE_SPECIAL,
    "AWS::DynamoDB::GlobalTable": _TABLE_SPECIAL,
    "AWS::RDS::DBCluster": ("Engine", "MasterUsername", "AvailabilityZones"),
    "AWS::RDS::DBInstance": ("Engine",),
}
"""Replacing properties the schemas list as conditional or not at all (see the module doc)."""


@dataclass(frozen=True)
class Replacement:
    logical_id: str
    property: str
    detail: str
    certain: bool = True
    """False: the schema lists the property as conditionally create-only (may replace)."""


def shown(values: list[object]) -> str:
    """A property's value(s) as one short JSON text, ``(absent)`` when there is none."""
    if not values:
        return "(absent)"
    text = json.dumps(values[0] if len(values) == 1 else values, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _changed(before: Resource, after: Resource, path: str) -> Replacement | None:
    old, new = value_at(before.properties, path), value_at(after.properties, path)
    if canonical(old) == canonical(new):
        return None
    return Replacement(after.logical_id, path, f"{shown(old)} -> {shown(new)}")


def _key_attribute_types(resource: Resource) -> dict[str, object]:
    keys = {
        str(k.get("AttributeName"))
        for k in as_list(resource.properties.get("KeySchema"))
        if isinstance(k, dict)
    }
    return {
        str(a.get("AttributeName")): a.get("AttributeType")
        for a in as_list(resource.properties.get("AttributeDefinitions"))
        if isinstance(a, dict) and str(a.get("AttributeName")) in keys
    }


def _create_only(resource_type: str, rules: ReplacementRules) -> tuple[str, ...]:
    return (*rules.create_only, *SPECIAL_CREATE_ONLY.get(resource_type, ()))


def _special(before: Resource, after: Resource) -> Replacement | None:
    if after.type in TABLE_TYPES:
        old, new = _key_attribute_types(before), _key_attribute_types(after)
        if canonical(old) != canonical(new):
            detail = f"key attribute types {shown([old])} -> {shown([new])}"
            return Replacement(after.logical_id, "AttributeDefinitions", detail)
    return None


def _direct(
    before: Resource, after: Resource, rules: ReplacementRules
) -> tuple[Replacement | None, Replacement | None]:
    """(certain replacement, conditional one) from this resource's own properties."""
    if before.type != after.type:
        return Replacement(after.logical_id, "Type", f"{before.type} -> {after.type}"), None
    for path in _create_only(after.type, rules):
        found = _changed(before, after, path)
        if found is not None:
            return found, None
    special = _special(before, after)
    if special is not None:
        return special, None
    for path in rules.conditional:
        found = _changed(before, after, path)
        if found is not None:
            return None, Replacement(found.logical_id, path, found.detail, certain=False)
    return None, None


def replacements(
    old: Template, new: Template, region: str
) -> tuple[dict[str, Replacement], dict[str, Replacement]]:
    """(replaced, maybe replaced) resources of ``new`` that ``old`` also holds, by logical ID."""
    kept = [(old[r.logical_id], r) for r in new if r.logical_id in old]
    replaced: dict[str, Replacement] = {}
    maybe: dict[str, Replacement] = {}
    for before, after in kept:
        certain, conditional = _direct(before, after, rules_for(after.type, region))
        if certain is not None:
            replaced[after.logical_id] = certain
        elif conditional is not None:
            maybe[after.logical_id] = conditional
    while True:
        grown = {
            after.logical_id: found
            for before, after in kept
            if after.logical_id not in replaced
            and (found := _through_reference(after, rules_for(after.type, region), replaced))
            is not None
        }
        if not grown:
            break
        replaced |= grown
    return replaced, {k: v for k, v in maybe.items() if k not in replaced}


def _through_reference(
    after: Resource, rules: ReplacementRules, replaced: dict[str, Replacement]
) -> Replacement | None:
    for path in _create_only(after.type, rules):
        named = sorted(references(value_at(after.properties, path)) & replaced.keys())
        if named:
            detail = f"names {named[0]}, which is replaced ({replaced[named[0]].property})"
            return Replacement(after.logical_id, path, detail)
    return None
