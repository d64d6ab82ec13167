"""Shared helpers for the migration tests: real databases, real files, no mocks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from dbmigrate.compile import compile_directory
from dbmigrate.engine import Engine, EngineConfig
from dbmigrate.transports.psycopg_transport import PsycopgTransport

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "migrations"


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def copy_standard(directory: Path, upto: int | None = None) -> Path:
    """Copy the repository's migrations (optionally only versions <= upto) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in MIGRATIONS.glob("*.sql"):
        if upto is None or int(path.name.split("_", 1)[0]) <= upto:
            shutil.copy(path, directory / path.name)
    return directory


@contextmanager
def engine(url: str, directory: Path = MIGRATIONS, **config: Any) -> Iterator[Engine]:
    """An engine over its own connection, compiled from ``directory``."""
    with PsycopgTransport.connect(url) as transport:
        yield Engine(transport, compile_directory(directory), config=EngineConfig(**config))


class PerTransactionLockTransport(PsycopgTransport):
    """psycopg, locking as over the Data API: per transaction only, no session lock for the
    run, so that another runner can go between two of its files."""

    keeps_session = False


def query(url: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh autocommit connection and return its rows (if any)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def state(url: str) -> list[tuple[Any, ...]]:
    """The raw schema_migrations rows, exactly as golang-migrate would read them."""
    return query(url, "SELECT version, dirty FROM schema_migrations")


def history(url: str) -> list[tuple[Any, ...]]:
    return query(
        url,
        "SELECT version, direction, checksum FROM schema_migrations_history ORDER BY id",
    )


def tables(url: str) -> set[str]:
    rows = query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r[0] for r in rows}
