"""Plan, or apply, the configured roles: one transaction, nothing half-applied, then verified.

``apply`` takes the migration engine's advisory lock first (two runners, or a
runner and ``ops access apply``, never interleave), reads the catalog, plans,
runs every statement, then reads the catalog again and plans once more: a plan
that is not empty after applying means a statement did less than it said (a
GRANT on an object the user cannot grant on only warns), and the whole
transaction is rolled back with that reason. Over the Data API a run that
changes nothing costs four calls (begin, lock, read, commit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dbaccess.catalog import read_catalog
from dbaccess.errors import AccessError, AccessStatementError
from dbaccess.plan import AccessPlan, Change, RolePlan, plan_access
from dbaccess.roles import RoleSet
from dbmigrate.engine import (
    ADVISORY_LOCK_KEY,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_STATEMENT_TIMEOUT_MS,
)
from dbmigrate.errors import db_error_text, excerpt
from dbmigrate.lock_waits import DEFAULT_LOCK_WAIT_MS
from dbmigrate.locks import BUSY_SQLSTATE, Limits, transaction_lock_sql
from dbmigrate.transport import Executor, Transport

log = logging.getLogger("dbaccess")

OnRole = Callable[[RolePlan], None]


def plan(transport: Transport, roles: RoleSet, *, require_iam: bool = False) -> AccessPlan:
    """What `apply` would do now; reads only."""
    with transport.transaction() as tx:
        return plan_access(roles, read_catalog(tx, roles), require_iam=require_iam)


def apply(
    transport: Transport,
    roles: RoleSet,
    *,
    require_iam: bool = False,
    lock_key: int = ADVISORY_LOCK_KEY,
    on_role: OnRole | None = None,
) -> AccessPlan:
    """Bring the database's roles to ``roles``; return the plan that was applied.

    ``on_role`` hears of each role once its statements ran (before the commit:
    a later failure still rolls everything back).
    """
    limits = transaction_lock_sql(
        Limits(
            lock_key=lock_key,
            lock_wait_ms=DEFAULT_LOCK_WAIT_MS,
            lock_timeout_ms=DEFAULT_LOCK_TIMEOUT_MS,
            statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS,
            applied_by="dbaccess",
        )
    )
    with transport.transaction() as tx:
        _lock(tx, limits)
        applied = plan_access(roles, read_catalog(tx, roles), require_iam=require_iam)
        for role in applied.roles:
            for change in role.changes:
                _run(tx, role, change)
            if on_role is not None:
                on_role(role)
        if applied.changed:
            _verify(tx, roles, require_iam)
    log.info("access: %s", applied.summary())
    return applied


def _lock(tx: Executor, sql: str) -> None:
    try:
        tx.execute(sql)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != BUSY_SQLSTATE:
            raise
        raise AccessError(
            f"a migration run holds the migration lock: gave up after waiting "
            f"{DEFAULT_LOCK_WAIT_MS // 1000} s; run this again when it has finished"
        ) from exc


def _run(tx: Executor, role: RolePlan, change: Change) -> None:
    try:
        tx.execute(change.sql)
    except Exception as exc:
        raise AccessStatementError(
            f"role {role.name}: {change.summary} failed: {db_error_text(exc)} "
            f"(statement: {excerpt(change.sql)}); rolled back, nothing was applied"
        ) from exc


def _verify(tx: Executor, roles: RoleSet, require_iam: bool) -> None:
    again = plan_access(roles, read_catalog(tx, roles), require_iam=require_iam)
    pending = [f"{r.name}: {c.summary}" for r in again.roles for c in r.changes]
    if pending:
        raise AccessError(
            "the roles did not reach the configuration after applying (still to do: "
            + "; ".join(pending[:5])
            + "): does the migrating user own these objects? rolled back, nothing was applied"
        )
