"""Application roles as configuration declares them: a name and an access level.

The same definitions travel from cdk.json (validated by ``config``) through the
custom resource's properties (``Roles``, ``RolesChecksum``) to the Lambda,
which validates them again: a template edited by hand must not be able to make
the reconciler create ``rds_superuser`` or drop a level's limits.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from dbaccess.errors import RoleDefinitionError

RULES_VERSION = 1
"""Part of the checksum: a change to what a level grants changes the custom resource's
properties, so the next deploy reconciles even when no role definition changed."""

IAM_ROLE = "rds_iam"
"""Aurora's role whose members log in with IAM tokens (and no longer with a password)."""

MAX_ROLES = 20
"""Each role adds a managed policy, two outputs and two SSM parameters to the stack."""

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_RESERVED_NAMES = frozenset(
    {"postgres", "public", "none", "current_user", "current_role", "session_user"}
)
_RESERVED_PREFIXES = ("pg_", "rds")


class AccessLevel(Enum):
    """What a role may do with the application's data (see `dbaccess.levels`)."""

    READ_WRITE = "read-write"
    READ_ONLY = "read-only"


@dataclass(frozen=True)
class RoleSpec:
    """One application role: a LOGIN role with IAM authentication and no password."""

    name: str
    access: AccessLevel

    @property
    def pascal_name(self) -> str:
        """``app_rw`` -> ``AppRw``: its construct ids and output names."""
        return "".join(part[:1].upper() + part[1:] for part in self.name.split("_"))


def name_problem(name: object, *, master_user: str | None = None) -> str | None:
    """Why ``name`` cannot be an application role, or None if it can.

    Lowercase unquoted PostgreSQL identifiers only: the same spelling then works
    in SQL, in a connection string and in the ``rds-db:connect`` ARN.
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        return (
            f"{name!r} is not a lowercase PostgreSQL identifier "
            "(a-z, 0-9 and _, not starting with a digit, at most 63 characters)"
        )
    if name in _RESERVED_NAMES or name.startswith(_RESERVED_PREFIXES):
        return f"{name!r} is reserved (postgres, public, rds*, pg_* and the like): choose another"
    if master_user is not None and name == master_user:
        return f"{name!r} is the cluster's master user, which migrations run as: choose another"
    return None


@dataclass(frozen=True)
class RoleSet:
    """The roles of one environment, in configuration order."""

    roles: tuple[RoleSpec, ...]

    def __iter__(self) -> Iterator[RoleSpec]:
        return iter(self.roles)

    def __len__(self) -> int:
        return len(self.roles)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(role.name for role in self.roles)

    def get(self, name: str) -> RoleSpec | None:
        return next((role for role in self.roles if role.name == name), None)

    def to_json(self) -> str:
        """Canonical text (sorted, compact): the ``Roles`` property and the checksum's input."""
        ordered = sorted(self.roles, key=lambda role: role.name)
        return json.dumps(
            [{"name": role.name, "access": role.access.value} for role in ordered],
            separators=(",", ":"),
        )

    @property
    def checksum(self) -> str:
        """sha256 of the canonical definitions and `RULES_VERSION`."""
        material = f"dbaccess-rules-{RULES_VERSION}\n{self.to_json()}"
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> RoleSet:
        """Parse and validate `to_json`'s output (the custom resource's ``Roles``)."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise RoleDefinitionError(f"Roles is not JSON: {exc}") from exc
        if not isinstance(raw, list):
            raise RoleDefinitionError("Roles must be a JSON list of {name, access} objects")
        roles = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict) or set(item) != {"name", "access"}:
                raise RoleDefinitionError(f"Roles[{index}] must be an object with name and access")
            roles.append(RoleSpec(str(item["name"]), _level(item["access"], f"Roles[{index}]")))
        return validated(roles, where="Roles")


def validated(roles: list[RoleSpec], *, where: str, master_user: str | None = None) -> RoleSet:
    """A RoleSet, or `RoleDefinitionError` naming the first bad entry."""
    if len(roles) > MAX_ROLES:
        raise RoleDefinitionError(f"{where}: at most {MAX_ROLES} roles, got {len(roles)}")
    seen: dict[str, int] = {}
    pascal: dict[str, int] = {}
    for index, role in enumerate(roles):
        problem = name_problem(role.name, master_user=master_user)
        if problem is None and role.name in seen:
            problem = f"{role.name!r} is a duplicate of {where}[{seen[role.name]}]"
        if problem is None and role.pascal_name in pascal:
            other = roles[pascal[role.pascal_name]].name
            problem = (
                f"{role.name!r} and {other!r} ({where}[{pascal[role.pascal_name]}]) would share "
                f"the construct id {role.pascal_name}: rename one"
            )
        if problem is not None:
            raise RoleDefinitionError(f"{where}[{index}].name: {problem}")
        seen[role.name] = index
        pascal[role.pascal_name] = index
    return RoleSet(tuple(roles))


def _level(value: object, where: str) -> AccessLevel:
    for level in AccessLevel:
        if level.value == value:
            return level
    allowed = ", ".join(level.value for level in AccessLevel)
    raise RoleDefinitionError(f"{where}.access: {value!r} is not one of {allowed}")


DEFAULT_ROLES = RoleSet(
    (RoleSpec("app_rw", AccessLevel.READ_WRITE), RoleSpec("app_ro", AccessLevel.READ_ONLY))
)
