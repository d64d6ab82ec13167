"""A no-transaction file left running by a run that stopped, continued by the next ``up``.

The run that stops is a real ``python -m ops migrate up`` killed (SIGKILL) while its
CREATE INDEX CONCURRENTLY runs: PostgreSQL goes on building the index, as it does
after the Data API cuts a call or a Lambda's time runs out.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg

from ops import exit_codes
from tests.migrations._helpers import (
    NO_TX,
    OpsRun,
    cli,
    history,
    one_error_line,
    query,
    state,
    write,
)

SLOW_FUNCTION = """\
CREATE TABLE t (x int);
INSERT INTO t VALUES {rows};
CREATE FUNCTION slow_identity(v int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep({seconds});
    RETURN v;
END $$;
"""
INDEX = "CREATE {unique}INDEX CONCURRENTLY t_slow ON t (slow_identity(x));\n"
MARKER = "/* dbmigrate 2 statement 1/1 "


def _files(directory: Path, *, rows: str = "(1)", unique: str = "", seconds: float = 1.0) -> Path:
    write(directory, "000001_t.up.sql", SLOW_FUNCTION.format(rows=rows, seconds=seconds))
    write(directory, "000002_index.up.sql", NO_TX + INDEX.format(unique=unique))
    write(directory, "000003_after.up.sql", "CREATE TABLE after_it (x int);\n")
    return directory


def _index_build_pid(url: str) -> int | None:
    rows = query(
        url,
        "SELECT pid FROM pg_stat_activity WHERE starts_with(query, %(m)s)",
        {"m": MARKER},
    )
    return int(rows[0][0]) if rows else None


def _killed_mid_index_build(url: str, directory: Path) -> psycopg.Connection[Any]:
    """``up`` killed while its index build waits behind a SHARE lock; the lock's holder is
    returned (commit it to let the build go on). Waiting for a lock, the build is visible
    for as long as the test needs, whatever the machine's speed."""
    assert cli("up", "1", "--dir", str(directory), url=url).returncode == 0
    holder = psycopg.connect(url)
    holder.execute("LOCK TABLE t IN SHARE MODE")
    run = OpsRun(url, directory, "up")
    deadline = time.monotonic() + 30
    while _index_build_pid(url) is None:
        assert time.monotonic() < deadline, run.stderr()
        time.sleep(0.05)
    run.process.kill()
    run.process.wait(timeout=10)
    return holder


def _as_if_minutes_ago(url: str) -> None:
    """The killed run's claim is older than its grace (dbmigrate.resume.SEND_GRACE_SECONDS):
    a statement not seen running now has ended."""
    query(url, "UPDATE schema_migrations_running SET sent_at = sent_at - interval '5 minutes'")


def _gone(url: str) -> None:
    while _index_build_pid(url) is not None:
        time.sleep(0.05)


def test_the_next_up_waits_for_the_index_then_applies_the_rest(
    fresh_db_url: str, tmp_path: Path
) -> None:
    directory = _files(tmp_path / "m", seconds=1.5)
    holder = _killed_mid_index_build(fresh_db_url, directory)
    assert state(fresh_db_url) == [(2, True)]

    version = cli("version", "--dir", str(directory), url=fresh_db_url)
    plan = cli("plan", "--dir", str(directory), url=fresh_db_url)
    holder.commit()  # the build goes on: about 3 s (the function, per row, twice)
    up = cli("up", "--dir", str(directory), url=fresh_db_url)

    assert version.returncode == exit_codes.DIRTY  # as before, but it says what is happening
    assert one_error_line(version).startswith(
        "error: database is dirty at version 2 while 000002_index.up.sql runs: statement 1 of 1 "
        "(line 2) `CREATE INDEX CONCURRENTLY t_slow ON t (slow_identity(x))`, sent "
    )
    assert "is still running on the server; `up` waits for it" in version.stderr
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines()[:2] == [
        "pending: 000002_index.up.sql (no transaction)",
        "pending: 000003_after.up.sql",
    ]
    assert "(000002_index.up.sql continues: statement 1 of 1" in plan.stdout
    assert up.returncode == 0, up.stderr
    assert "continuing 000002_index.up.sql" in up.stderr
    assert state(fresh_db_url) == [(3, False)]
    assert [row[:2] for row in history(fresh_db_url)] == [(1, "up"), (2, "up"), (3, "up")]
    assert query(
        fresh_db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_slow'::regclass"
    ) == [(True,)]
    assert query(fresh_db_url, "SELECT count(*) FROM schema_migrations_running") == [(0,)]


def test_an_index_that_failed_unobserved_is_reported_by_name_and_left_for_a_person(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """A unique CREATE INDEX CONCURRENTLY over duplicates fails once the client is gone:
    the catalog shows an invalid index, which the next ``up`` names."""
    directory = _files(tmp_path / "m", rows="(1), (1)", unique="UNIQUE ", seconds=0.1)
    holder = _killed_mid_index_build(fresh_db_url, directory)
    holder.commit()
    _gone(fresh_db_url)
    _as_if_minutes_ago(fresh_db_url)

    up = cli("up", "--dir", str(directory), url=fresh_db_url)
    again = cli("up", "--dir", str(directory), url=fresh_db_url)

    assert up.returncode == exit_codes.DIRTY, up.stderr
    line = one_error_line(up)
    assert line.startswith(
        "error: 000002_index.up.sql line 2: statement `CREATE UNIQUE INDEX CONCURRENTLY t_slow "
    )
    assert "failed: it ended while no run was watching, and index t_slow is invalid" in line
    assert "force 1` to re-run 000002_index.up.sql" in line
    assert state(fresh_db_url) == [(2, True)]
    # Reported once: from now on it is golang-migrate's plain dirty state, for a person.
    assert one_error_line(again).startswith("error: database is dirty at version 2 (")


def test_an_index_build_cancelled_before_it_made_the_index_is_not_taken_as_done(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """Cancelled while it waited for its lock, it left nothing at all: no invalid index to
    see. Only a valid index counts as done."""
    directory = _files(tmp_path / "m")
    holder = _killed_mid_index_build(fresh_db_url, directory)
    pid = _index_build_pid(fresh_db_url)
    query(fresh_db_url, "SELECT pg_cancel_backend(%(pid)s)", {"pid": pid})
    _gone(fresh_db_url)
    holder.rollback()
    _as_if_minutes_ago(fresh_db_url)

    up = cli("up", "--dir", str(directory), url=fresh_db_url)

    assert up.returncode == exit_codes.DIRTY, up.stderr
    assert "it ended while no run was watching, and index t_slow is missing" in one_error_line(up)
    assert state(fresh_db_url) == [(2, True)]
    assert query(fresh_db_url, "SELECT to_regclass('t_slow') IS NULL") == [(True,)]


def test_a_dirty_row_golang_migrate_rewrote_is_not_continued(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """A person forced the version, then golang-migrate's own run of the file failed: the
    dirty row is golang-migrate's now, and the row this engine left is not about it."""
    directory = _files(tmp_path / "m", seconds=0.1)
    holder = _killed_mid_index_build(fresh_db_url, directory)
    holder.commit()
    _gone(fresh_db_url)
    _as_if_minutes_ago(fresh_db_url)
    # What `migrate force 1` and then a failing `migrate up` write (TRUNCATE, INSERT).
    query(
        fresh_db_url, "TRUNCATE schema_migrations; INSERT INTO schema_migrations VALUES (1, false)"
    )
    query(
        fresh_db_url, "TRUNCATE schema_migrations; INSERT INTO schema_migrations VALUES (2, true)"
    )

    up = cli("up", "--dir", str(directory), url=fresh_db_url)

    assert up.returncode == exit_codes.DIRTY
    assert one_error_line(up).startswith("error: database is dirty at version 2 (")
    assert state(fresh_db_url) == [(2, True)]


def test_a_no_transaction_down_to_no_version_runs_and_is_recorded(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """Its running row is keyed -1 (no version), as the dirty row golang-migrate writes."""
    directory = tmp_path / "m"
    query(fresh_db_url, "CREATE TABLE t0 (x int)")
    write(directory, "000001_idx.up.sql", NO_TX + "CREATE INDEX CONCURRENTLY i ON t0 (x);\n")
    write(directory, "000001_idx.down.sql", NO_TX + "DROP INDEX CONCURRENTLY i;\n")

    assert cli("up", "--dir", str(directory), url=fresh_db_url).returncode == 0
    down = cli("down", "1", "--dir", str(directory), url=fresh_db_url)

    assert down.returncode == 0, down.stderr
    assert state(fresh_db_url) == []  # golang-migrate's "no version"
    assert query(fresh_db_url, "SELECT to_regclass('i') IS NULL") == [(True,)]
