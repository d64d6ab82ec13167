"""A real PostgreSQL for tests and benchmarks: a given server URL, or a throwaway cluster.

The throwaway cluster lives in a temp directory, listens on 127.0.0.1 on a free
port and is stopped and deleted on exit, even when the caller fails. As root,
initdb and postgres are run as the ``postgres`` OS user (they refuse root). By
default durability is off (fsync, synchronous_commit, full_page_writes): the data
is disposable and commit flushes would swamp what tests and benchmarks measure;
``durable=True`` keeps PostgreSQL's defaults. Every failure is a
``PostgresUnavailableError`` saying what is missing; the pytest fixture turns it
into a test failure, never a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

NON_DURABLE_FLAGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresUnavailableError(RuntimeError):
    """No server could be started or reached; the message says what is missing."""


@dataclass(frozen=True)
class Server:
    """``admin_url`` reaches a database from which this user may CREATE DATABASE."""

    admin_url: str
    bindir: Path | None
    description: str

    def url_for(self, dbname: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, ""))

    def tool(self, name: str) -> str:
        """Path of a client binary (psql) from the server's bindir, else the newest installed."""
        dirs = [self.bindir] if self.bindir else []
        dirs += candidate_bindirs()
        for directory in dirs:
            if (directory / name).is_file():
                return str(directory / name)
        found = shutil.which(name)
        if found is None:
            raise PostgresUnavailableError(f"{name} not found in {[str(d) for d in dirs]} or PATH")
        return found

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if conn.info.server_version >= 150000:
                # Copying template1's files is ~2.5x faster than WAL-logging every block,
                # and durability does not matter for a disposable database.
                create = sql.SQL("{} STRATEGY FILE_COPY").format(create)
            conn.execute(create)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def candidate_bindirs() -> list[Path]:
    """``pg_config --bindir``, then /usr/lib/postgresql/*/bin, newest major version first."""
    dirs = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if out:
            dirs.append(Path(out))

    def major(path: Path) -> int:
        match = re.search(r"/(\d+)/bin$", str(path))
        return int(match.group(1)) if match else 0

    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True)
    return dirs


def _server_bindir() -> Path:
    for directory in candidate_bindirs():
        if all((directory / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found via `pg_config --bindir`"
        " or /usr/lib/postgresql/*/bin; install PostgreSQL 15 or pass --database-url"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailableError("running as root without `runuser`: cannot start postgres")
    if subprocess.run(["id", "postgres"], capture_output=True, check=False).returncode != 0:
        raise PostgresUnavailableError("running as root and no `postgres` OS user to run it as")
    return [runuser, "-u", "postgres", "--"]


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PostgresUnavailableError(
            f"{what} failed ({result.returncode}): {result.stderr or result.stdout}"
        )


@contextmanager
def throwaway_server(url: str | None = None, *, durable: bool = False) -> Iterator[Server]:
    """The server at ``url`` if given, else a throwaway cluster stopped on exit."""
    if url:
        yield Server(url, None, "given by DATABASE_URL / --database-url")
        return
    bindir = _server_bindir()
    prefix = _as_server_user()
    workdir = Path(tempfile.mkdtemp(prefix="throwaway-pg-"))
    data, sockets, logfile = workdir / "data", workdir / "sockets", workdir / "server.log"
    sockets.mkdir()
    if prefix:
        shutil.chown(workdir, user="postgres", group="postgres")
        shutil.chown(sockets, user="postgres", group="postgres")
    flags = "" if durable else NON_DURABLE_FLAGS
    started = False
    try:
        _run(
            [
                *prefix,
                str(bindir / "initdb"),
                *("-D", str(data), "-U", "postgres", "--auth=trust"),
                *("--encoding=UTF8", "--locale=C", "--no-sync"),
            ],
            "initdb",
        )
        error = ""
        for _attempt in range(3):
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} {flags}"
            result = subprocess.run(
                [
                    *prefix,
                    str(bindir / "pg_ctl"),
                    *("-D", str(data), "-l", str(logfile), "-o", options),
                    *("-w", "-t", "30", "start"),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0:
                started = True
                break
            error = result.stderr
        if not started:
            log = logfile.read_text() if logfile.exists() else ""
            raise PostgresUnavailableError(f"pg_ctl start failed: {error}{log[-2000:]}")
        settings = "durable (PostgreSQL defaults)" if durable else NON_DURABLE_FLAGS
        yield Server(
            f"postgresql://postgres@127.0.0.1:{port}/postgres",
            bindir,
            f"throwaway PostgreSQL {bindir.parent.name} cluster on 127.0.0.1:{port}, {settings}",
        )
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(workdir, ignore_errors=True)
