"""golang-migrate's ``migrate`` and this engine exclude each other through one advisory lock.

``migrate`` holds its key as a session lock for a whole run; the engine takes the
same key (and its own) in every transaction and, over psycopg, holds it for its
whole run too. So either one started during the other's run waits, and every file
is applied exactly once. Over the Data API the engine locks per transaction only:
the tests say what that excludes and what it does not.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dbmigrate.compile import compile_directory
from dbmigrate.engine import Engine, EngineConfig
from dbmigrate.errors import LockBusyError
from dbmigrate.state import golang_migrate_lock_key
from devtools.postgres import Server
from tests.fixtures.data_api import DataApiEndpoint
from tests.fixtures.golang_migrate import GolangMigrate
from tests.fixtures.postgres import new_database
from tests.migrations._helpers import (
    MIGRATIONS,
    REPO,
    cli,
    one_error_line,
    query,
    state,
    without_urls,
    write,
)

NO_TX = "-- migrate:no-transaction\n"


def ledger_migrations(
    directory: Path, count: int, *, slow_version: int = 0, sleep: float = 0
) -> Path:
    """``count`` files, each recording its own version in ``ledger`` (a primary key: a file
    applied twice fails); ``slow_version`` sleeps ``sleep`` seconds while it runs."""
    for version in range(1, count + 1):
        up = ["CREATE TABLE ledger (version int PRIMARY KEY);"] if version == 1 else []
        up.append(f"INSERT INTO ledger VALUES ({version});")
        if version == slow_version:
            up.append(f"SELECT pg_sleep({sleep});")
        down = (
            "DROP TABLE ledger;"
            if version == 1
            else f"DELETE FROM ledger WHERE version = {version};"
        )
        write(directory, f"{version:06d}_step.up.sql", "\n".join(up) + "\n")
        write(directory, f"{version:06d}_step.down.sql", down + "\n")
    return directory


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


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


def start_ops(url: str, directory: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ops",
            "migrate",
            *args,
            "--dir",
            str(directory),
            "--database-url",
            url,
        ],
        cwd=REPO,
        env=without_urls(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def gm_key(url: str, schema: str = "public") -> int:
    """The key the ``migrate`` CLI holds: its URL's path names the database, slash and all."""
    return golang_migrate_lock_key(f"/{database_of(url)}", schema)


# -- the key ------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["public", "app"])
def test_the_engine_takes_the_very_key_migrate_holds(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path, schema: str
) -> None:
    """Seen in pg_locks while each tool runs a slow file, for the default schema and another."""
    if schema != "public":
        query(fresh_db_url, f"CREATE SCHEMA {schema}")
        query(
            fresh_db_url, f"ALTER DATABASE {database_of(fresh_db_url)} SET search_path = {schema}"
        )
    key = gm_key(fresh_db_url, schema)
    theirs = ledger_migrations(tmp_path / "theirs", 1, slow_version=1, sleep=1)
    running = golang_migrate.start(fresh_db_url, theirs, "up")
    wait_until(
        lambda: holders(fresh_db_url, key) == [""], "migrate holds the key"
    )  # lib/pq: no name
    assert running.wait(timeout=30) == 0

    ours = ledger_migrations(tmp_path / "ours", 2, slow_version=2, sleep=1)
    engine = start_ops(fresh_db_url, ours, "up")
    wait_until(lambda: holders(fresh_db_url, key) == ["dbmigrate"], "the engine holds the key")
    code, out, err = finish(engine)
    assert code == 0, err
    assert out.strip() == "applied 1 migration(s) up; now at 2"
    assert query(fresh_db_url, f"SELECT count(*) FROM {schema}.schema_migrations") == [(1,)]


def test_migrate_without_a_database_in_its_url_holds_the_other_key_which_the_engine_takes(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    """With no path in the URL, golang-migrate names the database by current_database()."""
    directory = ledger_migrations(tmp_path, 2, slow_version=1, sleep=1.5)
    key = golang_migrate_lock_key(database_of(fresh_db_url), "public")
    theirs = golang_migrate.start_without_database_path(fresh_db_url, directory, "up")
    wait_until(lambda: holders(fresh_db_url, key) == [""], "migrate holds the path-less key")
    ours = start_ops(fresh_db_url, directory, "up")
    wait_until(lambda: holders(fresh_db_url, key, granted=False) == ["dbmigrate"], "engine waits")
    assert theirs.wait(timeout=30) == 0
    code, out, err = finish(ours)
    assert (code, out.strip()) == (0, "no change: database at version 2"), err


# -- psycopg: each waits for the other's whole run -------------------------------------------


def test_a_running_migrate_makes_the_engine_wait_then_find_nothing_to_do(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    directory = ledger_migrations(tmp_path, 3, slow_version=2, sleep=1.5)
    key = gm_key(fresh_db_url)
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    wait_until(lambda: holders(fresh_db_url, key) == [""], "migrate holds the key")
    ours = start_ops(fresh_db_url, directory, "up")
    wait_until(lambda: holders(fresh_db_url, key, granted=False) == ["dbmigrate"], "engine waits")
    assert theirs.wait(timeout=30) == 0
    code, out, err = finish(ours)
    assert code == 0, err
    assert out.strip() == "no change: database at version 3"
    assert ledger(fresh_db_url) == [1, 2, 3]


def test_a_running_engine_makes_migrate_wait_then_find_nothing_to_do(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    directory = ledger_migrations(tmp_path, 3, slow_version=2, sleep=1.5)
    key = gm_key(fresh_db_url)
    ours = start_ops(fresh_db_url, directory, "up")
    wait_until(lambda: holders(fresh_db_url, key) == ["dbmigrate"], "the engine holds the key")
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    wait_until(lambda: holders(fresh_db_url, key, granted=False) == [""], "migrate waits")
    code, out, err = finish(ours)
    assert code == 0, err
    assert out.strip() == "applied 3 migration(s) up; now at 3"
    _, their_err = theirs.communicate(timeout=30)
    assert theirs.returncode == 0 and their_err.strip() == "no change"
    assert ledger(fresh_db_url) == [1, 2, 3]


def test_the_engine_gives_up_after_lock_wait_with_one_line_and_exit_8(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    directory = ledger_migrations(tmp_path, 2, slow_version=1, sleep=30)
    key = gm_key(fresh_db_url)
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    try:
        wait_until(lambda: holders(fresh_db_url, key) == [""], "migrate holds the key")
        done = cli("up", "--lock-wait", "1", "--dir", str(directory), url=fresh_db_url)
        assert done.returncode == 8
        assert one_error_line(done) == (
            "error: another migration tool holds the migration lock of "
            f"{database_of(fresh_db_url)}.public.schema_migrations (golang-migrate's `migrate`, "
            "or another run of this one): gave up after waiting 1 s; let it finish (`version` "
            "shows where it is), then run this again"
        )
        assert state(fresh_db_url) == [(1, True)]  # migrate's, mid-file; nothing of ours
    finally:
        theirs.kill()
        theirs.wait(timeout=10)


def test_migrate_waits_out_a_long_engine_run_even_past_its_lock_timeout(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    """migrate takes its lock first when it opens the database (to create its table), and
    ``-lock-timeout`` does not bound that wait: it waits for the engine's whole run."""
    directory = ledger_migrations(tmp_path, 2, slow_version=1, sleep=3)
    ours = start_ops(fresh_db_url, directory, "up")
    wait_until(lambda: holders(fresh_db_url, gm_key(fresh_db_url)) == ["dbmigrate"], "engine")
    theirs = golang_migrate.run(fresh_db_url, directory, "-lock-timeout", "1", "up")
    assert (theirs.returncode, theirs.stderr.strip()) == (0, "no change")
    assert finish(ours)[0] == 0
    assert ledger(fresh_db_url) == [1, 2]


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
            ours = start_ops(url, directory, "up")
            # migrate starts in milliseconds, the Python CLI in a few hundred: stagger
            # migrate's start so that either can get there first.
            time.sleep(round_ * 0.06)
            theirs = golang_migrate.start(url, directory, "up")
            code, out, err = finish(ours)
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


def data_api_engine(data_api: DataApiEndpoint, directory: Path, **config: int) -> Engine:
    """The migration runner's engine and transport, on the emulated Data API."""
    transport = data_api.transport()
    return Engine(transport, compile_directory(directory), config=EngineConfig(**config))


def test_over_the_data_api_a_running_migrate_makes_the_engine_give_up(
    golang_migrate: GolangMigrate, data_api: DataApiEndpoint, fresh_db_url: str, tmp_path: Path
) -> None:
    directory = ledger_migrations(tmp_path, 2, slow_version=1, sleep=30)
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    try:
        wait_until(lambda: holders(fresh_db_url, gm_key(fresh_db_url)) == [""], "migrate")
        engine = data_api_engine(data_api, directory, lock_wait_ms=500)
        with pytest.raises(LockBusyError, match=r"gave up after waiting 0.5 s"):
            engine.up()
    finally:
        theirs.kill()
        theirs.wait(timeout=10)


def test_over_the_data_api_migrate_waits_for_the_file_being_applied(
    golang_migrate: GolangMigrate, data_api: DataApiEndpoint, fresh_db_url: str, tmp_path: Path
) -> None:
    """migrate, started while a file's transaction runs, waits for it; it may then go on
    between the engine's files (no session lock over the Data API), and the engine picks up
    from the version it finds: every file still runs once."""
    directory = ledger_migrations(tmp_path, 4, slow_version=2, sleep=1.5)
    engine = data_api_engine(data_api, directory)
    runner, results = in_thread(engine.up)
    wait_until(lambda: ledger_table_exists(fresh_db_url), "the engine's first file")
    key = gm_key(fresh_db_url)
    wait_until(lambda: len(holders(fresh_db_url, key)) == 1, "the engine's second file holds it")
    theirs = golang_migrate.start(fresh_db_url, directory, "up")
    wait_until(lambda: holders(fresh_db_url, key, granted=False) == [""], "migrate waits")
    runner.join(timeout=60)
    _, their_err = theirs.communicate(timeout=60)
    assert theirs.returncode == 0, their_err
    assert ledger(fresh_db_url) == [1, 2, 3, 4]
    assert state(fresh_db_url) == [(4, False)]
    assert results and getattr(results[0], "end_version", None) == 4, results


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


def ledger_table_exists(url: str) -> bool:
    return query(url, "SELECT to_regclass('ledger') IS NOT NULL") == [(True,)]


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
