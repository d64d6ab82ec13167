"""From the catalog and the configured roles to the statements that reconcile them. Pure.

The plan is exact: every privilege a level wants and lacks is granted, every
explicit privilege it holds beyond that is revoked, so a second run finds
nothing to do. It refuses, before any statement, what it must not fix by
itself: a role of a configured name that it did not create, a managed role
that owns something, a configured name equal to the migrating user, and,
when IAM is required, a server without ``rds_iam``.

A role removed from the configuration is disabled (NOLOGIN, every grant and
membership revoked) but never dropped: objects, sessions or audit records may
still refer to it. Existing sessions are left to end on their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from dbaccess.catalog import MARKER_PREFIX, Catalog, ExistingRole, marker
from dbaccess.errors import IamUnavailableError, RoleConflictError
from dbaccess.levels import (
    DATABASE,
    DEFAULT_OBJECT_WORDS,
    DEFAULTS_OF,
    OBJECT_WORDS,
    RO,
    SCHEMA,
    ObjectKind,
    ordered,
    wanted,
    wanted_default,
)
from dbaccess.roles import IAM_ROLE, AccessLevel, RoleSet, RoleSpec

Status = Literal["create", "update", "unchanged", "disable", "disabled"]

SAFE_ATTRIBUTES = {
    "SUPERUSER": False,
    "CREATEDB": False,
    "CREATEROLE": False,
    "INHERIT": True,
    "REPLICATION": False,
    "BYPASSRLS": False,
}
"""An application role's attributes: nothing beyond logging in and inheriting rds_iam."""

OBJECTS_PER_STATEMENT = 100
"""GRANT takes a list of objects; chunks keep each statement far below the Data API's limit."""


@dataclass(frozen=True)
class Change:
    """One statement and what it does, in words."""

    summary: str
    sql: str


@dataclass(frozen=True)
class RolePlan:
    """What happens to one role; ``access`` None means it is no longer configured."""

    name: str
    access: AccessLevel | None
    status: Status
    changes: tuple[Change, ...]

    @property
    def outcome(self) -> str:
        """The status once applied: ``created``, ``disabled``..."""
        return _PAST[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "access": None if self.access is None else self.access.value,
            "status": self.status,
            "changes": [{"summary": c.summary, "sql": c.sql} for c in self.changes],
        }


@dataclass(frozen=True)
class AccessPlan:
    """Every role's changes, in the order they run, and where they run."""

    database: str
    schema: str
    user: str
    iam: bool
    roles: tuple[RolePlan, ...]

    @property
    def statements(self) -> list[str]:
        return [change.sql for role in self.roles for change in role.changes]

    @property
    def changed(self) -> bool:
        return any(role.changes for role in self.roles)

    def summary(self) -> str:
        """One line: what each role became, for logs and the custom resource's Data."""
        if not self.roles:
            return "no application roles"
        return "; ".join(f"{role.name}: {role.outcome}" for role in self.roles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "schema": self.schema,
            "migrating_user": self.user,
            "iam": self.iam,
            "changes": len(self.statements),
            "roles": [role.to_dict() for role in self.roles],
        }


_PAST: dict[Status, str] = {
    "create": "created",
    "update": "updated",
    "unchanged": "unchanged",
    "disable": "disabled",
    "disabled": "already disabled",
}


def plan_access(roles: RoleSet, catalog: Catalog, *, require_iam: bool) -> AccessPlan:
    """The statements that bring ``catalog`` to ``roles``; raise if any must be refused."""
    if catalog.schema is None:
        raise RoleConflictError(
            f"user {catalog.user} has no current schema in database {catalog.database} "
            "(empty search_path): nothing was applied"
        )
    if require_iam and not catalog.iam:
        raise IamUnavailableError(
            f"role {IAM_ROLE} does not exist on this server, so the application roles could not "
            "log in with IAM tokens: is this an RDS/Aurora PostgreSQL cluster? nothing was applied"
        )
    _refuse_conflicts(roles, catalog)
    configured = [_role_plan(spec.name, spec.access, catalog) for spec in roles]
    removed = [
        _role_plan(role.name, None, catalog)
        for role in sorted(catalog.managed(), key=lambda r: r.name)
        if roles.get(role.name) is None
    ]
    return AccessPlan(
        catalog.database, catalog.schema, catalog.user, catalog.iam, (*configured, *removed)
    )


def _refuse_conflicts(roles: RoleSet, catalog: Catalog) -> None:
    problems = []
    mine = marker(catalog.database)
    for spec in roles:
        existing = catalog.roles.get(spec.name)
        if spec.name == catalog.user:
            problems.append(f"role {spec.name} is the migrating user itself: choose another name")
        elif existing is not None and existing.comment != mine:
            problems.append(_unmanaged(spec, existing, mine))
    problems += _public_engine_writes(catalog)
    for role in catalog.roles.values():
        if role.comment == mine and role.owns:
            problems.append(
                f"role {role.name} owns {role.owns}: an application role must own nothing; "
                f"ALTER ... OWNER TO {catalog.user} (or drop it), then run again"
            )
    if problems:
        raise RoleConflictError("; ".join(problems) + "; nothing was applied")


def _public_engine_writes(catalog: Catalog) -> list[str]:
    """PUBLIC is every role: a write privilege of its on the engine's state is every role's."""
    found = []
    for item in catalog.objects:
        extra = catalog.public.get(item.name, frozenset()) - wanted(item.kind, RO, engine=True)
        if item.engine and extra:
            privileges = ordered(extra)
            found.append(
                f"PUBLIC holds {privileges} on {item.name}: every role, the application roles "
                f"too, could write the migration state; REVOKE {privileges} ON {item.name} FROM "
                "PUBLIC, then run again"
            )
    return found


def _unmanaged(spec: RoleSpec, existing: ExistingRole, mine: str) -> str:
    if existing.comment and existing.comment.startswith(MARKER_PREFIX):
        where = existing.comment.removeprefix(MARKER_PREFIX)
        return f"role {spec.name} exists and is managed for database {where}, not this one"
    return (
        f"role {spec.name} already exists and was not created by the reconciler (its comment is "
        f"not {mine!r}): rename it in access.roles, or hand it over with "
        f"COMMENT ON ROLE {spec.name} IS '{mine}'"
    )


def _role_plan(name: str, level: AccessLevel | None, catalog: Catalog) -> RolePlan:
    existing = catalog.roles.get(name)
    builder = _Builder(name, level, catalog)
    if existing is None:
        assert level is not None  # a removed role is one the catalog found
        builder.create()
        existing = ExistingRole(name=name, login=True, attributes=dict(SAFE_ATTRIBUTES))
    builder.reconcile(existing)
    changes = tuple(builder.changes)
    return RolePlan(name, level, _status(existing, level, changes, catalog), changes)


def _status(
    existing: ExistingRole, level: AccessLevel | None, changes: tuple[Change, ...], c: Catalog
) -> Status:
    if level is None:
        return "disable" if changes else "disabled"
    if existing.name not in c.roles:
        return "create"
    return "update" if changes else "unchanged"


class _Builder:
    """Collects one role's statements, in the order they must run."""

    def __init__(self, name: str, level: AccessLevel | None, catalog: Catalog) -> None:
        self.role = quote_ident(name)
        self.name = name
        self.level = level
        self.catalog = catalog
        self.changes: list[Change] = []

    def add(self, summary: str, sql: str) -> None:
        self.changes.append(Change(summary, sql))

    def create(self) -> None:
        attributes = " ".join(_attribute(key, value) for key, value in SAFE_ATTRIBUTES.items())
        self.add(
            f"create role {self.name} (LOGIN, no password)",
            f"CREATE ROLE {self.role} WITH LOGIN {attributes}",
        )
        self.add(
            f"mark {self.name} as managed for database {self.catalog.database}",
            f"COMMENT ON ROLE {self.role} IS {quote_literal(marker(self.catalog.database))}",
        )

    def reconcile(self, existing: ExistingRole) -> None:
        self._attributes(existing)
        self._memberships(existing)
        database, schema = quote_ident(self.catalog.database), quote_ident(self.schema)
        want = DATABASE if self.level else frozenset()
        self._diff(
            existing.database, want, f"DATABASE {database}", f"database {self.catalog.database}"
        )
        want = SCHEMA if self.level else frozenset()
        self._diff(existing.schema, want, f"SCHEMA {schema}", f"schema {self.schema}")
        self._objects(existing)
        self._defaults(existing)

    @property
    def schema(self) -> str:
        assert self.catalog.schema is not None
        return self.catalog.schema

    def _attributes(self, existing: ExistingRole) -> None:
        wanted_login = self.level is not None
        drift = {
            key: value
            for key, value in SAFE_ATTRIBUTES.items()
            if existing.attributes.get(key, value) != value
        }
        if existing.login != wanted_login:
            drift = {"LOGIN": wanted_login, **drift}
        if not drift:
            return
        words = " ".join(_attribute(key, value) for key, value in drift.items())
        what = "disable login" if drift.get("LOGIN") is False else f"set {words}"
        self.add(f"{what} for {self.name}", f"ALTER ROLE {self.role} WITH {words}")

    def _memberships(self, existing: ExistingRole) -> None:
        want = {IAM_ROLE} if self.level is not None and self.catalog.iam else set()
        for group in sorted(want - existing.member_of):
            self.add(
                f"grant {group} to {self.name} (IAM authentication)",
                f"GRANT {quote_ident(group)} TO {self.role}",
            )
        for group in sorted(existing.member_of - want):
            self.add(
                f"revoke membership in {group} from {self.name}",
                f"REVOKE {quote_ident(group)} FROM {self.role}",
            )

    def _diff(
        self, have: frozenset[str], want: frozenset[str], target: str, label: str, prefix: str = ""
    ) -> None:
        """GRANT what ``want`` has beyond ``have``, then REVOKE what ``have`` has beyond it."""
        for verb, privileges in (("grant", want - have), ("revoke", have - want)):
            if privileges:
                self._statement(verb, privileges, target, label, prefix)

    def _statement(
        self, verb: str, privileges: frozenset[str], target: str, label: str, prefix: str = ""
    ) -> None:
        """``{prefix}GRANT P ON target TO role`` (or REVOKE ... FROM), and its summary."""
        preposition = "TO" if verb == "grant" else "FROM"
        self.add(
            f"{verb} {ordered(privileges)} on {label}",
            f"{prefix}{verb.upper()} {ordered(privileges)} ON {target} {preposition} {self.role}",
        )

    def _objects(self, existing: ExistingRole) -> None:
        grants: dict[tuple[ObjectKind, frozenset[str]], list[str]] = defaultdict(list)
        revokes: dict[tuple[ObjectKind, frozenset[str]], list[str]] = defaultdict(list)
        for item in self.catalog.objects:
            have = existing.objects.get(item.name, frozenset())
            want = wanted(item.kind, self.level, engine=item.engine)
            if want - have:
                grants[(item.kind, want - have)].append(item.name)
            if have - want:
                revokes[(item.kind, have - want)].append(item.name)
        for verb, groups in (("revoke", revokes), ("grant", grants)):
            for (kind, privileges), names in _by_kind(groups):
                for chunk in _chunks(names, OBJECTS_PER_STATEMENT):
                    shown = ", ".join(chunk) if len(chunk) <= 3 else f"{len(chunk)} {kind}s"
                    target = f"{OBJECT_WORDS[kind]} {', '.join(chunk)}"
                    self._statement(verb, privileges, target, shown)

    def _defaults(self, existing: ExistingRole) -> None:
        prefix = (
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote_ident(self.catalog.user)} "
            f"IN SCHEMA {quote_ident(self.schema)} "
        )
        for objtype in [*DEFAULTS_OF, *sorted(set(existing.defaults) - set(DEFAULTS_OF))]:
            words = DEFAULT_OBJECT_WORDS.get(objtype, objtype)
            self._diff(
                existing.defaults.get(objtype, frozenset()),
                wanted_default(objtype, self.level),
                words,
                f"{words.lower()} {self.catalog.user} creates later",
                prefix,
            )


def _by_kind(
    groups: dict[tuple[ObjectKind, frozenset[str]], list[str]],
) -> Iterator[tuple[tuple[ObjectKind, frozenset[str]], list[str]]]:
    order = {"table": 0, "sequence": 1, "routine": 2}
    yield from sorted(groups.items(), key=lambda item: (order[item[0][0]], ordered(item[0][1])))


def _chunks(names: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(names), size):
        yield names[start : start + size]


def _attribute(key: str, value: bool) -> str:
    return key if value else f"NO{key}"


def quote_ident(name: str) -> str:
    """PostgreSQL's quoting of an identifier (always quoted: correct for any spelling)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A standard-conforming string literal."""
    return "'" + text.replace("'", "''") + "'"
