"""Shared pieces of the access tests: a migrated database, logging in as a role, privilege checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from dbaccess import reconcile
from dbaccess.plan import AccessPlan
from dbaccess.roles import RoleSet
from dbmigrate.transports.psycopg_transport import PsycopgTransport
from tests.fixtures.app_roles import as_user
from tests.migrations._helpers import MIGRATIONS, engine, query

INSUFFICIENT_PRIVILEGE = "42501"

CATALOG_SNAPSHOT = """
SELECT r.rolname, r.rolcanlogin, shobj_description(r.oid, 'pg_authid'),
       (SELECT array_agg(g.rolname ORDER BY g.rolname) FROM pg_auth_members m
        JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid),
       (SELECT array_agg(c.relname || ':' || a.privilege_type
                  ORDER BY c.relname || ':' || a.privilege_type)
        FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = r.oid),
       (SELECT array_agg(d.defaclobjtype::text || ':' || a.privilege_type
                  ORDER BY d.defaclobjtype::text || ':' || a.privilege_type)
        FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE a.grantee = r.oid),
       has_database_privilege(r.oid, current_database(), 'CONNECT')
FROM pg_roles r WHERE r.rolname = ANY(%(names)s) ORDER BY 1
"""


def migrate(url: str, directory: Path = MIGRATIONS) -> None:
    with engine(url, directory) as runner:
        runner.up()


def apply(url: str, roles: RoleSet, **options: Any) -> AccessPlan:
    with PsycopgTransport.connect(url) as transport:
        return reconcile.apply(transport, roles, **options)


def plan(url: str, roles: RoleSet, **options: Any) -> AccessPlan:
    with PsycopgTransport.connect(url) as transport:
        return reconcile.plan(transport, roles, **options)


@contextmanager
def connect_as(url: str, role: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection logged in as ``role`` (trust authentication on 127.0.0.1)."""
    with psycopg.connect(as_user(url, role), autocommit=True) as conn:
        yield conn


def refused(url: str, role: str, statement: str) -> str | None:
    """The SQLSTATE ``statement`` fails with when ``role`` runs it (None: it succeeded)."""
    with connect_as(url, role) as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return exc.sqlstate
    return None


def catalog_snapshot(url: str, names: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Every fact the reconciler may change about these roles, read directly."""
    return query(url, CATALOG_SNAPSHOT, {"names": list(names)})
