"""The database's roles and privileges as the reconciler needs them, read in ONE statement.

One statement because over the RDS Data API every call is a round trip: the
query returns a single JSON document (the service returns json as a string).
It describes the roles configuration names and every role marked as managed
for this database, and the objects the migrating user owns in its current
schema. Privileges are the explicit ACL entries (``aclexplode``), not what a
role inherits or PUBLIC holds, because explicit grants are what the
reconciler writes and revokes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dbaccess.levels import ENGINE_TABLES, ObjectKind
from dbaccess.roles import IAM_ROLE, RoleSet
from dbmigrate.transport import Executor

MARKER_PREFIX = "managed by dbaccess for database "


def marker(database: str) -> str:
    """The ``COMMENT ON ROLE`` text that makes a role the reconciler's own, in this database."""
    return MARKER_PREFIX + database


CATALOG_SQL = f"""\
WITH me AS (
    SELECT (SELECT oid FROM pg_roles WHERE rolname = current_user) AS user_oid,
           (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AS schema_oid
), objects AS (
    SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name, c.relacl AS acl,
           CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END AS kind,
           CASE WHEN c.relkind = 'S' THEN (
               SELECT t.relname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                 AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1
           ) ELSE c.relname END AS table_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, me
    WHERE c.relnamespace = me.schema_oid AND c.relowner = me.user_oid
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
    UNION ALL
    SELECT p.oid, format('%I.%I(%s)', n.nspname, p.proname,
                         pg_get_function_identity_arguments(p.oid)),
           p.proacl, 'routine', NULL
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, me
    WHERE p.pronamespace = me.schema_oid AND p.proowner = me.user_oid
), candidates AS (
    SELECT r.*, shobj_description(r.oid, 'pg_authid') AS comment FROM pg_roles r
    WHERE r.rolname IN (SELECT jsonb_array_elements_text(CAST(:wanted AS jsonb)))
       OR shobj_description(r.oid, 'pg_authid') = '{MARKER_PREFIX}' || current_database()
)
SELECT json_build_object(
    'user', current_user,
    'database', current_database(),
    'schema', current_schema(),
    'iam', EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{IAM_ROLE}'),
    'objects', (SELECT coalesce(json_agg(json_build_object(
        'name', o.name, 'kind', o.kind, 'table', o.table_name) ORDER BY o.kind, o.name), '[]')
        FROM objects o),
    'public', (SELECT coalesce(json_object_agg(x.name, x.privileges), '{{}}') FROM (
        SELECT o.name, json_agg(a.privilege_type) AS privileges
        FROM objects o, aclexplode(o.acl) a WHERE a.grantee = 0 GROUP BY o.name) x),
    'roles', (SELECT coalesce(json_agg(json_build_object(
        'name', r.rolname, 'comment', r.comment, 'login', r.rolcanlogin,
        'attributes', json_build_object(
            'SUPERUSER', r.rolsuper, 'CREATEDB', r.rolcreatedb, 'CREATEROLE', r.rolcreaterole,
            'INHERIT', r.rolinherit, 'REPLICATION', r.rolreplication,
            'BYPASSRLS', r.rolbypassrls),
        'member_of', (SELECT coalesce(json_agg(g.rolname ORDER BY g.rolname), '[]')
            FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid),
        'database', (SELECT coalesce(json_agg(a.privilege_type), '[]')
            FROM pg_database d, aclexplode(d.datacl) a
            WHERE d.datname = current_database() AND a.grantee = r.oid),
        'schema', (SELECT coalesce(json_agg(a.privilege_type), '[]')
            FROM pg_namespace s, aclexplode(s.nspacl) a, me
            WHERE s.oid = me.schema_oid AND a.grantee = r.oid),
        'objects', (SELECT coalesce(json_object_agg(x.name, x.privileges), '{{}}') FROM (
            SELECT o.name, json_agg(a.privilege_type) AS privileges
            FROM objects o, aclexplode(o.acl) a WHERE a.grantee = r.oid GROUP BY o.name) x),
        'defaults', (SELECT coalesce(json_object_agg(x.objtype, x.privileges), '{{}}') FROM (
            SELECT d.defaclobjtype::text AS objtype, json_agg(a.privilege_type) AS privileges
            FROM pg_default_acl d, aclexplode(d.defaclacl) a, me
            WHERE d.defaclrole = me.user_oid AND d.defaclnamespace = me.schema_oid
              AND a.grantee = r.oid GROUP BY 1) x),
        'owns', coalesce(
            (SELECT format('%s %s', CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END,
                           c.oid::regclass) FROM pg_class c
                WHERE c.relowner = r.oid AND c.relpersistence <> 't' LIMIT 1),
            (SELECT format('function %s', p.oid::regprocedure)
                FROM pg_proc p WHERE p.proowner = r.oid LIMIT 1),
            (SELECT format('schema %I', s.nspname)
                FROM pg_namespace s WHERE s.nspowner = r.oid LIMIT 1),
            (SELECT format('database %I', d.datname)
                FROM pg_database d WHERE d.datdba = r.oid LIMIT 1))
    ) ORDER BY r.rolname), '[]') FROM candidates r)
)::text"""


@dataclass(frozen=True)
class DatabaseObject:
    """A table (or view), sequence or routine the migrating user owns in the schema."""

    name: str
    """Schema-qualified and quoted as PostgreSQL quotes it: ready to put in a GRANT."""
    kind: ObjectKind
    engine: bool
    """dbmigrate's own table, or a sequence one of them owns."""


@dataclass(frozen=True)
class ExistingRole:
    """A role as the catalogs show it; privileges are its explicit grants only."""

    name: str
    comment: str | None = None
    login: bool = False
    attributes: Mapping[str, bool] = field(default_factory=dict)
    member_of: frozenset[str] = frozenset()
    database: frozenset[str] = frozenset()
    schema: frozenset[str] = frozenset()
    objects: Mapping[str, frozenset[str]] = field(default_factory=dict)
    defaults: Mapping[str, frozenset[str]] = field(default_factory=dict)
    owns: str | None = None


@dataclass(frozen=True)
class Catalog:
    """Who is connected where, whether IAM authentication exists, the objects and the roles."""

    user: str
    database: str
    schema: str | None
    iam: bool
    objects: tuple[DatabaseObject, ...]
    roles: Mapping[str, ExistingRole]
    public: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """PUBLIC's explicit privileges on those objects (PUBLIC is every role, app roles too)."""

    def managed(self) -> list[ExistingRole]:
        """Roles marked as the reconciler's own for this database."""
        return [role for role in self.roles.values() if role.comment == marker(self.database)]


def read_catalog(executor: Executor, roles: RoleSet) -> Catalog:
    """Run `CATALOG_SQL` for ``roles`` and the roles marked for the connected database."""
    rows = executor.execute(CATALOG_SQL, {"wanted": json.dumps(list(roles.names))})
    return parse_catalog(str(rows[0][0]))


def parse_catalog(text: str) -> Catalog:
    raw: dict[str, Any] = json.loads(text)
    objects = tuple(
        DatabaseObject(
            name=item["name"],
            kind=item["kind"],
            engine=item["kind"] != "routine" and item["table"] in ENGINE_TABLES,
        )
        for item in raw["objects"]
    )
    roles = {item["name"]: _role(item) for item in raw["roles"]}
    return Catalog(
        user=raw["user"],
        database=raw["database"],
        schema=raw["schema"],
        iam=bool(raw["iam"]),
        objects=objects,
        roles=roles,
        public={name: frozenset(privs) for name, privs in raw["public"].items()},
    )


def _role(item: Mapping[str, Any]) -> ExistingRole:
    return ExistingRole(
        name=item["name"],
        comment=item["comment"],
        login=bool(item["login"]),
        attributes={key: bool(value) for key, value in item["attributes"].items()},
        member_of=frozenset(item["member_of"]),
        database=frozenset(item["database"]),
        schema=frozenset(item["schema"]),
        objects={name: frozenset(privs) for name, privs in item["objects"].items()},
        defaults={objtype: frozenset(privs) for objtype, privs in item["defaults"].items()},
        owns=item["owns"],
    )
