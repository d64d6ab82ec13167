"""Fixtures for the access-pattern tests.

DynamoDB: the session's moto server process (tests.fixtures.moto_server, reset
before each test), reached over real HTTP by boto3, with the AppData table
created from the session's synthesized dev template by the same translation
``make local`` uses. The client refuses Scan, so a pattern that scanned would
fail here even if the grep test missed it.

PostgreSQL: each test's fresh database brought to the newest migration by the
engine (dbmigrate over psycopg), its application roles reconciled, as ``make
local`` and deploys do; the patterns then run logged in as ``app_rw``, the role
an application uses, never as the owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from appdata.dynamo import AppDataRepository
from dbaccess import reconcile
from dbaccess.roles import RoleSet
from dbmigrate.compile import compile_directory
from dbmigrate.engine import Engine
from dbmigrate.transports.psycopg_transport import PsycopgTransport
from devtools.dynamodb_local import TableDefinition, ensure_table, table_from_template
from tests.fixtures.app_roles import as_user
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.synth import Synthesized

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class ScanRefusedError(AssertionError):
    pass


def _refuse_scan(**_: Any) -> None:
    raise ScanRefusedError("the access patterns must never Scan the table")


@pytest.fixture(scope="session")
def dev_table(synthesized: Synthesized) -> TableDefinition:
    return table_from_template(synthesized.raw["dev"])


@pytest.fixture
def dynamodb(moto: MotoServer, dev_table: TableDefinition) -> Any:
    """A boto3 DynamoDB client on the moto server, the dev table created from the template."""
    client = moto.client("dynamodb")
    client.meta.events.register("before-call.dynamodb.Scan", _refuse_scan)
    assert ensure_table(dev_table, client) is True
    return client


@pytest.fixture
def repo(dynamodb: Any, dev_table: TableDefinition) -> AppDataRepository:
    return AppDataRepository(dynamodb, dev_table.table_name, sleep=lambda _s: None)


def migrate(url: str) -> None:
    with PsycopgTransport.connect(url) as transport:
        result = Engine(transport, compile_directory(MIGRATIONS)).up()
    assert result.end_version == max(compile_directory(MIGRATIONS).versions)


@pytest.fixture
def pg(fresh_db_url: str, app_roles: RoleSet) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection, as app_rw, to a fresh, fully migrated database."""
    migrate(fresh_db_url)
    with PsycopgTransport.connect(fresh_db_url) as transport:
        reconcile.apply(transport, app_roles)
    with psycopg.connect(as_user(fresh_db_url, "app_rw"), autocommit=True) as conn:
        assert conn.info.user == "app_rw"
        yield conn
