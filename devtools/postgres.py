"""A real PostgreSQL for tests and benchmarks: a given server URL, or a throwaway cluster.

The throwaway cluster lives in a temp directory, listens on 127.0.0.1 on a free
port and is stopped and deleted on exit, even when the caller fails. As root,
initdb and postgres are run as the ``postgres`` OS user (they refuse root). By
default durability is off (fsync, synchronous_commit, full_page_writes): the data
is disposable and commit flushes would swamp what tests and benchmarks measure;
``durable=True`` keeps PostgreSQL's defaults. Every failure is a
``PostgresUnavailableError`` saying what is missing; the pytest fixture turns it
into a test failure, never a skip.

`PersistentCluster` is the other mode, for ``make local``: a cluster in a
directory kept between runs (``data/``, socket directory ``run/``, ``server.log``),
on a fixed port, with PostgreSQL's durable defaults; ``start`` is idempotent,
``stop`` and ``wipe`` undo it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
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

    def ensure_database(self, name: str) -> bool:
        """Create the database unless it exists; True if it was created."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True

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
def throwaway_server(
    url: str | None = None,
    *,
    durable: bool = False,
    parent: Path | None = None,
    configure: Callable[[Path], str] | None = None,
) -> Iterator[Server]:
    """The server at ``url`` if given, else a throwaway cluster stopped on exit.

    ``parent`` is where its data directory goes (default: the system temp directory);
    the benchmarks put it in RAM to keep disk noise out of their numbers.
    ``configure`` is called with the new data directory before the server starts
    (to write pg_hba.conf, certificates...) and returns extra server options.
    """
    if url:
        yield Server(url, None, "given by DATABASE_URL / --database-url")
        return
    bindir = _server_bindir()
    prefix = _as_server_user()
    workdir = Path(tempfile.mkdtemp(prefix="throwaway-pg-", dir=parent))
    data, sockets, logfile = workdir / "data", workdir / "sockets", workdir / "server.log"
    sockets.mkdir()
    if prefix:
        shutil.chown(workdir, user="postgres", group="postgres")
        shutil.chown(sockets, user="postgres", group="postgres")
    flags = "" if durable else NON_DURABLE_FLAGS
    started = False
    try:
        _initdb(prefix, bindir, data)
        if configure is not None:
            flags = f"{flags} {configure(data)}"
        error = ""
        for _attempt in range(3):
            port = _free_port()
            result = _pg_ctl_start(
                prefix, bindir, data, logfile, f"-p {port} -k {sockets} {flags}", timeout_s=30
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
            f"throwaway PostgreSQL {bindir.parent.name} cluster on 127.0.0.1:{port} in "
            f"{workdir.parent}, {settings}",
        )
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(workdir, ignore_errors=True)


def _initdb(prefix: list[str], bindir: Path, data: Path) -> None:
    _run(
        [
            *prefix,
            str(bindir / "initdb"),
            *("-D", str(data), "-U", "postgres", "--auth=trust"),
            # --no-sync: initdb's fsync of ~1000 new files is 1.4 s of a 5 s cold start;
            # the kernel writes them back within seconds, and an OS crash in that window
            # costs a new, empty cluster (make local-reset).
            *("--encoding=UTF8", "--locale=C", "--no-sync"),
        ],
        "initdb",
    )


def _pg_ctl_start(
    prefix: list[str], bindir: Path, data: Path, logfile: Path, options: str, *, timeout_s: int
) -> subprocess.CompletedProcess[str]:
    """``pg_ctl start``, listening on 127.0.0.1 only, with the server ``options`` given."""
    return subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            *("-D", str(data), "-l", str(logfile)),
            *("-o", f"-c listen_addresses=127.0.0.1 {options}"),
            *("-w", "-t", str(timeout_s), "start"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


class PortInUseError(PostgresUnavailableError):
    """The port is taken by a process that is not this cluster."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on (or holds) ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do: connections of a stopped server lingering in TIME_WAIT do not
        # count, a listening socket (on this address or the wildcard) does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class ClusterStatus:
    initialized: bool
    running: bool
    pid: int | None
    port: int | None


@dataclass(frozen=True)
class StartResult:
    server: Server
    initialized: bool
    """initdb ran in this call (the directory was new)."""
    started: bool
    """pg_ctl start ran in this call (False: it was already running)."""
    pid: int


@dataclass(frozen=True)
class PersistentCluster:
    """A PostgreSQL cluster in ``root`` (kept between runs), on 127.0.0.1:``port``.

    As root, ``root`` is owned by, and the server run as, the ``postgres`` OS
    user. Trust authentication for the ``postgres`` user: a developer's machine
    only, listening on the loopback address and a socket in ``root/run``.
    """

    root: Path
    port: int
    bindir: Path | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "run"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def _bindir(self) -> Path:
        tools = ("initdb", "pg_ctl", "postgres")
        dirs = [self.bindir] if self.bindir else candidate_bindirs()
        for directory in dirs:
            if all((directory / tool).is_file() for tool in tools):
                return directory
        where = (
            ", ".join(str(d) for d in dirs) or "`pg_config --bindir` or /usr/lib/postgresql/*/bin"
        )
        raise PostgresUnavailableError(
            f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in {where};"
            " install the apt package `postgresql` (make install does it as root)"
        )

    def status(self) -> ClusterStatus:
        """Initialized? Running (postmaster.pid names a live postmaster)? Its pid and port."""
        initialized = (self.data / "PG_VERSION").is_file()
        pid, port = self._postmaster()
        running = pid is not None and process_alive(pid)
        return ClusterStatus(
            initialized, running, pid if running else None, port if running else None
        )

    def _postmaster(self) -> tuple[int | None, int | None]:
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None, None
        try:
            return int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None, None

    def server(self, port: int | None = None) -> Server:
        return Server(
            f"postgresql://postgres@127.0.0.1:{port or self.port}/postgres",
            self.bindir,
            f"local PostgreSQL in {self.root} on 127.0.0.1:{port or self.port}",
        )

    def start(self) -> StartResult:
        """Create the cluster if needed and start it unless it runs; idempotent."""
        bindir = self._bindir()
        state = self.status()
        if state.running:
            assert state.pid is not None
            if state.port != self.port:
                raise PortInUseError(
                    f"the PostgreSQL in {self.data} already runs on port {state.port}, not"
                    f" {self.port}; stop it first (make local-down)"
                )
            return StartResult(self.server(), initialized=False, started=False, pid=state.pid)
        if not port_is_free(self.port):
            raise PortInUseError(
                f"port {self.port} on 127.0.0.1 is in use by another process;"
                " free it or choose another port (LOCAL_PG_PORT)"
            )
        prefix = _as_server_user()
        self._prepare_directories(prefix)
        initialized = False
        if not state.initialized:
            _initdb(prefix, bindir, self.data)
            initialized = True
        result = _pg_ctl_start(
            prefix,
            bindir,
            self.data,
            self.logfile,
            f"-p {self.port} -k {self.sockets}",
            timeout_s=60,
        )
        if result.returncode != 0:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            last = log.strip().splitlines()[-1:] or [result.stderr.strip()]
            raise PostgresUnavailableError(f"pg_ctl start failed: {last[0]} (log: {self.logfile})")
        pid, _port = self._postmaster()
        return StartResult(self.server(), initialized=initialized, started=True, pid=pid or 0)

    def _prepare_directories(self, prefix: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if not prefix:
            return
        for path in (self.root, self.sockets):
            shutil.chown(path, user="postgres", group="postgres")
        check = subprocess.run([*prefix, "test", "-w", str(self.root)], check=False)
        if check.returncode != 0:
            raise PostgresUnavailableError(
                f"the postgres OS user cannot write to {self.root}: a parent directory is not"
                " searchable by it; use a directory under a world-searchable path"
            )

    def stop(self) -> bool:
        """Stop the server (fast shutdown, waited for); False if it was not running."""
        state = self.status()
        if not state.running:
            return False
        bindir = self._bindir()
        _run(
            [
                *_as_server_user(),
                str(bindir / "pg_ctl"),
                *("-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"),
            ],
            "pg_ctl stop",
        )
        assert state.pid is not None
        if process_alive(state.pid):
            raise PostgresUnavailableError(f"postmaster {state.pid} still runs after pg_ctl stop")
        return True

    def wipe(self) -> None:
        """Stop the server and delete the directory with all its data."""
        self.stop()
        if self.root.exists():
            shutil.rmtree(self.root)


def process_alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited child nobody has reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
