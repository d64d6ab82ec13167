"""Shared helpers for the migration tests: real databases, real files, no mocks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from dbmigrate.compile import compile_directory
from dbmigrate.engine import Engine, EngineConfig
from dbmigrate.transports.psycopg_transport import PsycopgTransport
from ops.database import URL_VARIABLES

NO_TX = "-- migrate:no-transaction\n"
"""The first line of a file that runs outside a transaction."""

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


def without_urls() -> dict[str, str]:
    """This process's environment without any database URL a developer's shell may hold."""
    return {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}


def cli(
    *args: str, url: str | None = None, env_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = without_urls()
    if env_url is not None:
        env["DATABASE_URL"] = env_url
    command = [sys.executable, "-m", "ops", "migrate", *args]
    if url is not None:
        command += ["--database-url", url]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )


class OpsRun:
    """``python -m ops migrate ARGS --dir DIR --database-url URL`` in the background."""

    def __init__(self, url: str, directory: Path, *args: str) -> None:
        self._stderr = directory.parent / f"ops-{time.monotonic_ns()}.err"
        command = [sys.executable, "-m", "ops", "migrate", *args, "--dir", str(directory)]
        with self._stderr.open("w") as err:
            self.process = subprocess.Popen(
                [*command, "--database-url", url],
                cwd=REPO,
                env=without_urls(),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )

    def stderr(self) -> str:
        return self._stderr.read_text()

    def waiting(self) -> bool:
        """It said it is waiting for the migration lock (it polls: nothing shows in pg_locks)."""
        return "waiting for the migration lock of" in self.stderr()

    def finish(self) -> tuple[int, str, str]:
        out, _ = self.process.communicate(timeout=60)
        return self.process.returncode, out, self.stderr()


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def schema_dump(pg_dump: str, url: str, *, exclude: tuple[str, ...] = ()) -> str:
    """``pg_dump --schema-only`` of ``url``, without the lines that differ on every run."""
    command = [pg_dump, "--schema-only", "--no-owner", "-d", url]
    for table in exclude:
        command += ["--exclude-table", table]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    # Recent pg_dump brackets the script with \restrict <random key> lines.
    return "\n".join(line for line in out.splitlines() if "restrict " not in line[:12])
