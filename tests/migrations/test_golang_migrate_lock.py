"""golang-migrate's ``migrate`` and this engine exclude each other through one advisory lock.

``migrate`` holds its key as a session lock for a whole run; the engine takes the
same key (and its own) in every transaction and, over psycopg, holds it for its
whole run too. So either one started during the other's run waits, and every file
is applied exactly once. Over the Data API the engine locks per transaction only:
the tests say what that excludes and what it does not.

A file that must be "running" while something else happens waits on a ``Gate``,
an advisory lock the test holds and then lets go: no sleeps to outlast.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbmigrate.compile import compile_directory
from dbmigrate.engine import Engine, EngineConfig
from dbmigrate.errors import LockBusyError
from dbmigrate.locks import golang_migrate_lock_key
from devtools.postgres import Server
from tests.fixtures.data_api import DataApiEndpoint
from tests.fixtures.golang_migrate import GolangMigrate
from tests.fixtures.postgres import new_database
from tests.migrations._helpers import (
    MIGRATIONS,
    NO_TX,
    OpsRun,
    cli,
    one_error_line,
    query,
    state,
    write,
)

GATE = 424_242
GATED = f"SELECT pg_advisory_lock({GATE});\nSELECT pg_advisory_unlock({GATE});"
"""A migration file's statements that wait until the test opens the gate."""


class Gate:
    """Holds advisory lock ``GATE`` on its own session until ``open``; ``shut`` takes it again."""

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)
        self.shut()

    def shut(self) -> None:
        self._conn.execute("SELECT pg_advisory_lock(%s)", (GATE,))

    def open(self) -> None:
        self._conn.execute("SELECT pg_advisory_unlock(%s)", (GATE,))

    def close(self) -> None:
        self._conn.close()


@pytest.fixture
def gate(fresh_db_url: str) -> Iterator[Gate]:
    held = Gate(fresh_db_url)
    yield held
    held.close()


def ledger_migrations(directory: Path, count: int, *, gated: int = 0) -> Path:
    """``count`` files, each recording its own version in ``ledger`` (a primary key: a file
    applied twice fails); file ``gated`` waits for the gate after its insert."""
    for version in range(1, count + 1):
        up = ["CREATE TABLE ledger (version int PRIMARY KEY);"] if version == 1 else []
        up.append(f"INSERT INTO ledger VALUES ({version});")
        if version == gated:
            up.append(GATED)
        down = (
            "DROP TABLE ledger;"
            if version == 1
            else f"DELETE FROM ledger WHERE version = {version};"
        )
        write(directory, f"{version:06d}_step.up.sql", "\n".join(up) + "\n")
        write(directory, f"{version:06d}_step.down.sql", down + "\n")
    return directory


def index_migrations(directory: Path) -> Path:
    """A table, a gated file, then a no-transaction ``CREATE INDEX CONCURRENTLY``."""
    write(directory, "000001_t.up.sql", "CREATE TABLE t (x int);")
    write(directory, "000002_gated.up.sql", GATED)
    write(directory, "000003_i.up.sql", f"{NO_TX}CREATE INDEX CONCURRENTLY t_x ON t (x);\n")
    return directory


def index_is_valid(url: str) -> bool:
    rows = query(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass")
    return rows == [(True,)]


def ledger(url: str) -> list[int]:
    return [row[0] for row in query(url, "SELECT version FROM ledger ORDER BY version")]


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def holders(url: str, key: int, *, granted: bool = True) -> list[str]:
    """application_name of each session holding (or, ``granted=False``, waiting for) ``key``."""
    rows = query(
        url,
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted = %(granted)s "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = %(key)s",
        {"key": key, "granted": granted},
    )
    return [str(row[0]) for row in rows]


def at_the_gate(url: str) -> list[str]:
    """application_name of each session inside a gated file, waiting for the gate."""
    return holders(url, GATE, granted=False)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


def gm_key(url: str, schema: str = "public") -> int:
    """The key the ``migrate`` CLI holds: its URL's path names the database, slash and all."""
    return golang_migrate_lock_key(f"/{database_of(url)}", schema, "schema_migrations")


# -- the key ------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["public", "app"])
def test_the_engine_takes_the_very_key_migrate_holds(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path, schema: str, gate: Gate
) -> None:
    """Seen in pg_locks while each tool waits in a gated file, for the default schema and
    another one on the search_path."""
    if schema != "public":
        query(fresh_db_url, f"CREATE SCHEMA {schema}")
        query(
            fresh_db_url, f"ALTER DATABASE {database_of(fresh_db_url)} SET search_path = {schema}"
        )
    key = gm_key(fresh_db_url, schema)
    theirs = golang_migrate.start(fresh_db_url, ledger_migrations(tmp_path / "a", 1, gated=1), "up")
    wait_until(lambda: at_the_gate(fresh_db_url) == [""], "migrate in its gated file")  # lib/pq
    assert holders(fresh_db_url, key) == [""]
    gate.open()
    assert theirs.wait(timeout=30) == 0

    gate.shut()
    ours = OpsRun(fresh_db_url, ledger_migrations(tmp_path / "b", 2, gated=2), "up")
    wait_until(lambda: at_the_gate(fresh_db_url) == ["dbmigrate"], "the engine in its gated file")
    assert holders(fresh_db_url, key) == ["dbmigrate"]
    gate.open()
    code, out, err = ours.finish()
    assert (code, out.strip()) == (0, "applied 1 migration(s) up; now at 2"), err
    assert query(fresh_db_url, f"SELECT version, dirty FROM {schema}.schema_migrations") == [
        (2, False)
    ]


def test_migrate_without_a_database_in_its_url_holds_the_other_key_which_the_engine_takes(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path, gate: Gate
) -> None:
    """With no path in the URL, golang-migrate names the database by current_database()."""
    directory = ledger_migrations(tmp_path / "m", 2, gated=1)
    key = golang_migrate_lock_key(database_of(fresh_db_url), "public", "schema_migrations")
    theirs = golang_migrate.start_without_database_path(fresh_db_url, directory, "up")
    wait_until(lambda: at_the_gate(fresh_db_url) == [""], "migrate in its gated file")
    assert holders(fresh_db_url, key) == [""]
    ours = OpsRun(fresh_db_url, directory, "up")
    wait_until(ours.waiting, "the engine waits")
    gate.open()
    assert theirs.wait(timeout=30) == 0
    code, out, err = ours.finish()
    assert (code, out.strip()) == (0, "no change: database at version 2"), err


def migrate_started_while_the_engine_applies_3(
    golang_migrate: GolangMigrate, url: str, directory: Path, gate: Gate
) -> tuple[subprocess.Popen[str], str]:
    """The engine holds golang-migrate's key in its gated file, a ``migrate up`` queues for
    it, the gate opens; the engine applies all 3 files. Returns migrate and its stderr."""
    key = gm_key(url)
    ours = OpsRun(url, directory, "up")
    wait_until(lambda: at_the_gate(url) == ["dbmigrate"], "the engine in its gated file")
    assert holders(url, key) == ["dbmigrate"]
    theirs = golang_migrate.start(url, directory, "up")
    wait_until(lambda: holders(url, key, granted=False) == [""], "migrate waits")
    gate.open()
    code, out, err = ours.finish()
    assert (code, out.strip()) == (0, "applied 3 migration(s) up; now at 3"), err
    _, their_err = theirs.communicate(timeout=30)
    return theirs, their_err


# -- psycopg: each waits for the other's run ----------------------------------------------------


def test_a_running_migrate_makes_the_engine_wait_then_find_nothing_to_do(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path, gate: Gate
) -> None:
    directory = ledger_migrations(tmp_path / "m", 3, gated=2)
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    wait_until(lambda: at_the_gate(fresh_db_url) == [""], "migrate in its gated file")
    ours = OpsRun(fresh_db_url, directory, "up")
    wait_until(ours.waiting, "the engine waits")
    assert ledger(fresh_db_url) == [1]  # migrate's file 2 is still running; nothing of ours
    gate.open()
    assert theirs.wait(timeout=30) == 0
    code, out, err = ours.finish()
    assert (code, out.strip()) == (0, "no change: database at version 3"), err
    assert ledger(fresh_db_url) == [1, 2, 3]


def test_a_running_engine_makes_migrate_wait_then_find_nothing_to_do(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path, gate: Gate
) -> None:
    directory = ledger_migrations(tmp_path / "m", 3, gated=2)
    theirs, their_err = migrate_started_while_the_engine_applies_3(
        golang_migrate, fresh_db_url, directory, gate
    )
    assert theirs.returncode == 0 and their_err.strip() == "no change"
    assert ledger(fresh_db_url) == [1, 2, 3]


def test_the_engine_gives_up_after_lock_wait_with_one_line_and_exit_8(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path, gate: Gate
) -> None:
    directory = ledger_migrations(tmp_path / "m", 2, gated=1)
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    wait_until(lambda: at_the_gate(fresh_db_url) == [""], "migrate in its gated file")
    done = cli("up", "--lock-wait", "1", "--dir", str(directory), url=fresh_db_url)
    assert done.returncode == 8
    assert one_error_line(done) == (
        "error: another migration tool holds the migration lock of "
        f"{database_of(fresh_db_url)}.public.schema_migrations (golang-migrate's `migrate`, "
        "or another run of this one): gave up after waiting 1 s; let it finish (`version` "
        "shows where it is), then run this again"
    )
    assert state(fresh_db_url) == [(1, True)]  # migrate's, mid-file; nothing of ours
    gate.open()
    _, their_err = theirs.communicate(timeout=30)  # the engine left no lock behind
    assert theirs.returncode == 0, their_err
    assert state(fresh_db_url) == [(2, False)]


def test_migrate_waits_out_an_engine_run_even_past_its_lock_timeout(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path, gate: Gate
) -> None:
    """migrate takes its lock first when it opens the database (to create its table), and
    ``-lock-timeout`` does not bound that wait: it waits for the engine's whole run."""
    directory = ledger_migrations(tmp_path / "m", 2, gated=1)
    key = gm_key(fresh_db_url)
    ours = OpsRun(fresh_db_url, directory, "up")
    wait_until(lambda: at_the_gate(fresh_db_url) == ["dbmigrate"], "the engine in its gated file")
    assert holders(fresh_db_url, key) == ["dbmigrate"]
    theirs = golang_migrate.start(fresh_db_url, directory, "-lock-timeout", "1", "up")
    wait_until(lambda: holders(fresh_db_url, key, granted=False) == [""], "migrate waits")
    time.sleep(1.5)  # past migrate's -lock-timeout
    gate.open()
    assert ours.finish()[0] == 0
    _, their_err = theirs.communicate(timeout=30)
    assert (theirs.returncode, their_err.strip()) == (0, "no change")
    assert ledger(fresh_db_url) == [1, 2]


def test_an_engine_building_an_index_concurrently_lets_a_waiting_migrate_through(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path, gate: Gate
) -> None:
    """CREATE INDEX CONCURRENTLY waits for every older snapshot, and a ``migrate`` blocked
    in pg_advisory_lock holds one: were the engine to keep its session lock during the
    build, the two would deadlock. It lets go once the dirty row is committed; migrate
    then either refuses the dirty database or, if the engine took the lock back first,
    waits and finds nothing to do. Either way the build completes."""
    directory = index_migrations(tmp_path / "m")
    theirs, their_err = migrate_started_while_the_engine_applies_3(
        golang_migrate, fresh_db_url, directory, gate
    )
    refused = theirs.returncode == 1 and "Dirty database version 3" in their_err
    assert refused or (theirs.returncode, their_err.strip()) == (0, "no change"), their_err
    assert index_is_valid(fresh_db_url) and state(fresh_db_url) == [(3, False)]


def test_an_engine_waiting_during_migrates_concurrent_index_build_does_not_deadlock_it(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path, gate: Gate
) -> None:
    """The engine tries golang-migrate's key and sleeps between tries, holding no snapshot,
    so migrate's CREATE INDEX CONCURRENTLY does not wait for it."""
    directory = index_migrations(tmp_path / "m")
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    wait_until(lambda: at_the_gate(fresh_db_url) == [""], "migrate in its gated file")
    ours = OpsRun(fresh_db_url, directory, "up")
    wait_until(ours.waiting, "the engine waits")
    gate.open()
    _, their_err = theirs.communicate(timeout=30)
    assert theirs.returncode == 0, their_err
    code, out, err = ours.finish()
    assert (code, out.strip()) == (0, "no change: database at version 3"), err
    assert index_is_valid(fresh_db_url)


ROUNDS = 8


def test_racing_migrate_and_the_engine_apply_every_file_exactly_once(
    golang_migrate: GolangMigrate, postgres_server: Server, tmp_path: Path
) -> None:
    """Both started together on fresh databases, round after round: whichever gets the lock
    applies everything, the other waits and finds nothing to do; both succeed."""
    directory = ledger_migrations(tmp_path, 6)
    winners = []
    for round_ in range(ROUNDS):
        with new_database(postgres_server) as url:
            ours = OpsRun(url, directory, "up")
            # migrate starts in milliseconds, the Python CLI in a few hundred: stagger
            # migrate's start so that either can get there first.
            time.sleep(round_ * 0.06)
            theirs = golang_migrate.start(url, directory, "up")
            code, out, err = ours.finish()
            _, their_err = theirs.communicate(timeout=60)
            assert (code, theirs.returncode) == (0, 0), (err, their_err)
            assert ledger(url) == [1, 2, 3, 4, 5, 6]
            assert state(url) == [(6, False)]
            engine_idle = out.strip() == "no change: database at version 6"
            migrate_idle = their_err.strip() == "no change"
            assert engine_idle != migrate_idle, (out, their_err)
            winners.append("migrate" if engine_idle else "engine")
    print(f"racing: {winners.count('engine')} of {ROUNDS} rounds won by the engine")


# -- over the Data API: a lock per transaction ----------------------------------------------


def data_api_engine(data_api: DataApiEndpoint, directory: Path, **config: Any) -> Engine:
    """The migration runner's engine and transport, on the emulated Data API."""
    transport = data_api.transport()
    return Engine(transport, compile_directory(directory), config=EngineConfig(**config))


@pytest.fixture
def engine_log() -> Iterator[list[str]]:
    """The engine's log messages in this process, as they come."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger, handler = logging.getLogger("dbmigrate"), Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def in_thread(run: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Start ``run`` in a thread; the list gets its result, or the exception it raised."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(run())
        except Exception as exc:  # shown by the test's assertion, not lost in a warning
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_over_the_data_api_a_running_migrate_makes_the_engine_give_up(
    golang_migrate: GolangMigrate,
    data_api: DataApiEndpoint,
    fresh_db_url: str,
    tmp_path: Path,
    gate: Gate,
) -> None:
    directory = ledger_migrations(tmp_path / "m", 2, gated=1)
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    wait_until(lambda: at_the_gate(fresh_db_url) == [""], "migrate in its gated file")
    engine = data_api_engine(data_api, directory, lock_wait_ms=500)
    with pytest.raises(LockBusyError, match=r"gave up after waiting 0.5 s"):
        engine.up()
    gate.open()
    assert theirs.wait(timeout=30) == 0
    assert ledger(fresh_db_url) == [1, 2]


def test_over_the_data_api_migrate_waits_for_the_file_being_applied(
    golang_migrate: GolangMigrate,
    data_api: DataApiEndpoint,
    fresh_db_url: str,
    tmp_path: Path,
    gate: Gate,
) -> None:
    """migrate, started while a file's transaction runs, waits for it; it may then go on
    between the engine's files (no session lock over the Data API), and the engine picks up
    from the version it finds: every file still runs once."""
    directory = ledger_migrations(tmp_path / "m", 4, gated=2)
    key = gm_key(fresh_db_url)
    runner, results = in_thread(data_api_engine(data_api, directory).up)
    wait_until(lambda: len(at_the_gate(fresh_db_url)) == 1, "the engine in its gated file")
    assert len(holders(fresh_db_url, key)) == 1
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    wait_until(lambda: holders(fresh_db_url, key, granted=False) == [""], "migrate waits")
    gate.open()
    runner.join(timeout=60)
    _, their_err = theirs.communicate(timeout=60)
    assert theirs.returncode == 0, their_err
    assert ledger(fresh_db_url) == [1, 2, 3, 4]
    assert state(fresh_db_url) == [(4, False)]
    assert results and getattr(results[0], "end_version", None) == 4, results


def test_over_the_data_api_the_engine_waiting_does_not_deadlock_migrates_index_build(  # noqa: PLR0917 - fixtures
    golang_migrate: GolangMigrate,
    data_api: DataApiEndpoint,
    fresh_db_url: str,
    tmp_path: Path,
    gate: Gate,
    engine_log: list[str],
) -> None:
    directory = index_migrations(tmp_path / "m")
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    wait_until(lambda: at_the_gate(fresh_db_url) == [""], "migrate in its gated file")
    runner, results = in_thread(data_api_engine(data_api, directory).up)
    wait_until(lambda: any("waiting for the migration lock" in m for m in engine_log), "waits")
    gate.open()
    _, their_err = theirs.communicate(timeout=30)
    assert theirs.returncode == 0, their_err
    runner.join(timeout=60)
    assert results and getattr(results[0], "end_version", None) == 3, results
    assert index_is_valid(fresh_db_url)


def test_racing_migrate_and_the_engine_over_the_data_api_apply_every_file_once(
    golang_migrate: GolangMigrate, data_api: DataApiEndpoint, fresh_db_url: str, tmp_path: Path
) -> None:
    """Locking per transaction, the two may take turns file by file: each file still runs
    once, both succeed, and the engine ends at the version migrate left, or its own."""
    directory = ledger_migrations(tmp_path, 12)
    engine = data_api_engine(data_api, directory)
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    runner, results = in_thread(engine.up)
    runner.join(timeout=60)
    _, their_err = theirs.communicate(timeout=60)
    assert theirs.returncode == 0, their_err
    assert ledger(fresh_db_url) == list(range(1, 13))
    assert state(fresh_db_url) == [(12, False)]
    assert results and getattr(results[0], "end_version", None) == 12, results


# -- files golang-migrate must also run ---------------------------------------------------------


def test_a_single_statement_no_transaction_file_runs_under_migrate(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    write(tmp_path, "000001_t.up.sql", "CREATE TABLE t (x int, y int);")
    write(tmp_path, "000002_i.up.sql", f"{NO_TX}CREATE INDEX CONCURRENTLY t_x ON t (x);\n")
    golang_migrate.ok(fresh_db_url, tmp_path, "up")
    assert query(fresh_db_url, "SELECT indexname FROM pg_indexes WHERE tablename = 't'") == [
        ("t_x",)
    ]


def test_migrate_runs_a_multi_statement_no_transaction_file_as_one_transaction_and_fails(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    """migrate sends a file as one simple query, which PostgreSQL runs as one implicit
    transaction: two CREATE INDEX CONCURRENTLY in a file fail there and leave it dirty,
    although the engine (a statement at a time) applies the same file."""
    write(tmp_path, "000001_t.up.sql", "CREATE TABLE t (x int, y int);")
    write(
        tmp_path,
        "000002_i.up.sql",
        f"{NO_TX}CREATE INDEX CONCURRENTLY t_x ON t (x);\nCREATE INDEX CONCURRENTLY t_y ON t (y);\n",
    )
    failed = golang_migrate.run(fresh_db_url, tmp_path, "up")
    assert failed.returncode == 1
    assert "CREATE INDEX CONCURRENTLY cannot run inside a transaction block" in failed.stderr
    assert state(fresh_db_url) == [(2, True)]
    assert query(fresh_db_url, "SELECT count(*) FROM pg_indexes WHERE tablename = 't'") == [(0,)]
    assert cli("force", "1", "--dir", str(tmp_path), url=fresh_db_url).returncode == 0
    assert cli("up", "--dir", str(tmp_path), url=fresh_db_url).returncode == 0
    assert query(fresh_db_url, "SELECT count(*) FROM pg_indexes WHERE tablename = 't'") == [(2,)]


def test_migrates_multi_statement_mode_splits_on_every_semicolon_so_it_is_no_way_out(
    golang_migrate: GolangMigrate, fresh_db_url: str
) -> None:
    """``x-multi-statement=true`` splits on every ``;``, in comments and dollar-quoted bodies
    too: the standards' very first migration is cut at a semicolon in a comment."""
    failed = golang_migrate.run(f"{fresh_db_url}?x-multi-statement=true", MIGRATIONS, "up")
    assert failed.returncode == 1
    assert "syntax error at end of input" in failed.stderr
    assert "The standards wrote the TLD class as [A-Z|a-z];" in failed.stderr
    assert state(fresh_db_url) == [(1, True)]
