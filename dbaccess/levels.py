"""What each access level is granted, object class by object class: the whole rule book.

Exactly these privileges, granted explicitly to the role; anything else granted
to it explicitly is revoked. So no application role ever holds ownership,
CREATE, TRUNCATE, REFERENCES, TRIGGER (or MAINTAIN, PostgreSQL 17), and none
writes the migration engine's own tables, which it may read (a service can
check the schema version at start-up). Privileges PostgreSQL gives PUBLIC by
default (EXECUTE on functions, TEMPORARY on the database) are left as they are.

Only objects the migrating user owns in the application schema are managed:
they are what migrations create, and what default privileges cover.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from dbaccess.roles import AccessLevel

ObjectKind = Literal["table", "sequence", "routine"]

RW, RO = AccessLevel.READ_WRITE, AccessLevel.READ_ONLY

DATABASE = frozenset({"CONNECT"})
SCHEMA = frozenset({"USAGE"})

OBJECTS: Mapping[ObjectKind, Mapping[AccessLevel, frozenset[str]]] = {
    "table": {RW: frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"}), RO: frozenset({"SELECT"})},
    "sequence": {RW: frozenset({"USAGE", "SELECT"}), RO: frozenset()},
    "routine": {RW: frozenset({"EXECUTE"}), RO: frozenset()},
}

ENGINE_TABLES = frozenset({"schema_migrations", "schema_migrations_history"})
"""dbmigrate's state: every role may read it, none may write it (nor its sequences)."""
ENGINE_TABLE = frozenset({"SELECT"})

DEFAULTS_OF: Mapping[str, ObjectKind] = {"r": "table", "S": "sequence", "f": "routine"}
"""``pg_default_acl.defaclobjtype`` codes this project grants on; others must stay empty."""
DEFAULT_OBJECT_WORDS = {
    "r": "TABLES",
    "S": "SEQUENCES",
    "f": "FUNCTIONS",
    "T": "TYPES",
    "n": "SCHEMAS",
}

OBJECT_WORDS: Mapping[ObjectKind, str] = {
    "table": "TABLE",
    "sequence": "SEQUENCE",
    "routine": "ROUTINE",
}

PRIVILEGE_ORDER = (
    "CONNECT", "CREATE", "TEMPORARY", "USAGE", "SELECT", "INSERT", "UPDATE", "DELETE",
    "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN", "EXECUTE",
)  # fmt: skip


def wanted(kind: ObjectKind, level: AccessLevel | None, *, engine: bool = False) -> frozenset[str]:
    """Privileges ``level`` holds on one object; None (a disabled role) holds none."""
    if level is None:
        return frozenset()
    if engine:
        return ENGINE_TABLE if kind == "table" else frozenset()
    return OBJECTS[kind][level]


def wanted_default(objtype: str, level: AccessLevel | None) -> frozenset[str]:
    """Default privileges ``level`` holds for objects the migrating user creates later."""
    kind = DEFAULTS_OF.get(objtype)
    return frozenset() if kind is None else wanted(kind, level)


def ordered(privileges: frozenset[str]) -> str:
    """``SELECT, INSERT``: a stable spelling, so plans and tests read the same every time."""
    rank = {name: index for index, name in enumerate(PRIVILEGE_ORDER)}
    return ", ".join(sorted(privileges, key=lambda p: (rank.get(p, len(rank)), p)))
