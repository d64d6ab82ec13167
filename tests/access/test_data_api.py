"""The reconciler over the RDS Data API: boto3 -> HTTP -> the emulator -> PostgreSQL.

The same cases as over psycopg, through the transport the Lambda uses: one
statement per call, inside a Data API transaction, no session state.
"""

from __future__ import annotations

from collections import Counter

import pytest

from dbaccess import reconcile
from dbaccess.errors import RoleConflictError
from dbaccess.roles import AccessLevel, RoleSet, RoleSpec
from tests.access._helpers import (
    INSUFFICIENT_PRIVILEGE,
    catalog_snapshot,
    connect_as,
    migrate,
    refused,
)
from tests.fixtures.data_api import DataApiEndpoint
from tests.migrations._helpers import query

ONLY_RW = RoleSet((RoleSpec("app_rw", AccessLevel.READ_WRITE),))


def test_create_then_nothing_to_do_in_four_calls(
    data_api: DataApiEndpoint, fresh_db_url: str, app_roles: RoleSet, rds_iam: str,
    data_api_calls: Counter[str],
) -> None:  # fmt: skip
    migrate(fresh_db_url)
    created = reconcile.apply(data_api.transport(), app_roles, require_iam=True)
    assert [r.status for r in created.roles] == ["create", "create"]
    assert refused(fresh_db_url, "app_rw", "INSERT INTO tags (name) VALUES ('a')") is None
    assert refused(fresh_db_url, "app_rw", "DROP TABLE tags") == INSUFFICIENT_PRIVILEGE
    assert refused(fresh_db_url, "app_ro", "DELETE FROM tags") == INSUFFICIENT_PRIVILEGE
    # begin, lock, read, the statements, verify, commit
    assert data_api_calls["ExecuteStatement"] == 3 + len(created.statements)
    before = catalog_snapshot(fresh_db_url, app_roles.names)
    data_api_calls.clear()

    again = reconcile.apply(data_api.transport(), app_roles, require_iam=True)

    assert not again.changed
    assert catalog_snapshot(fresh_db_url, app_roles.names) == before
    assert dict(data_api_calls) == {
        "BeginTransaction": 1,
        "ExecuteStatement": 2,
        "CommitTransaction": 1,
    }


def test_a_removed_role_can_no_longer_log_in(
    data_api: DataApiEndpoint, fresh_db_url: str, app_roles: RoleSet, rds_iam: str
) -> None:
    migrate(fresh_db_url)
    reconcile.apply(data_api.transport(), app_roles, require_iam=True)
    removed = reconcile.apply(data_api.transport(), ONLY_RW, require_iam=True)
    assert [(r.name, r.status) for r in removed.roles] == [
        ("app_rw", "unchanged"),
        ("app_ro", "disable"),
    ]
    with pytest.raises(Exception, match="not permitted to log in"):
        connect_as(fresh_db_url, "app_ro").__enter__()
    assert query(fresh_db_url, "SELECT count(*) FROM pg_roles WHERE rolname = 'app_ro'") == [(1,)]


def test_an_unmarked_role_is_refused_and_nothing_is_applied(
    data_api: DataApiEndpoint, fresh_db_url: str, app_roles: RoleSet
) -> None:
    migrate(fresh_db_url)
    query(fresh_db_url, "CREATE ROLE app_rw LOGIN")
    before = catalog_snapshot(fresh_db_url, app_roles.names)
    with pytest.raises(RoleConflictError, match="role app_rw already exists and was not created"):
        reconcile.apply(data_api.transport(), app_roles)
    assert catalog_snapshot(fresh_db_url, app_roles.names) == before


def test_a_table_from_a_later_migration_is_usable_without_another_run(
    data_api: DataApiEndpoint, fresh_db_url: str, app_roles: RoleSet
) -> None:
    migrate(fresh_db_url)
    reconcile.apply(data_api.transport(), app_roles)
    query(fresh_db_url, "CREATE TABLE orders (id bigserial PRIMARY KEY, total int)")
    assert refused(fresh_db_url, "app_rw", "INSERT INTO orders (total) VALUES (1)") is None
    assert refused(fresh_db_url, "app_ro", "SELECT * FROM orders") is None
    assert not reconcile.plan(data_api.transport(), app_roles).changed
