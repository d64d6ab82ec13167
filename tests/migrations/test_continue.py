"""A no-transaction file left running by a run that stopped, continued by the next ``up``.

The run that stops is a real ``python -m ops migrate up`` killed (SIGKILL) while its
CREATE INDEX CONCURRENTLY runs: PostgreSQL goes on building the index, as it does
after the Data API cuts a call or a Lambda's time runs out.
"""

from __future__ import annotations

import time
from pathlib import Path

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


def _files(directory: Path, *, rows: str = "(1)", unique: str = "", seconds: float = 1.0) -> Path:
    write(directory, "000001_t.up.sql", SLOW_FUNCTION.format(rows=rows, seconds=seconds))
    write(directory, "000002_index.up.sql", NO_TX + INDEX.format(unique=unique))
    write(directory, "000003_after.up.sql", "CREATE TABLE after_it (x int);\n")
    return directory


def _running(url: str) -> int:
    rows = query(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '/* dbmigrate 2 statement 1/1 %'",
    )
    return int(rows[0][0])


def _kill_while_the_index_builds(url: str, directory: Path) -> None:
    run = OpsRun(url, directory, "up")
    deadline = time.monotonic() + 30
    while not _running(url):
        assert time.monotonic() < deadline, run.stderr()
        time.sleep(0.05)
    run.process.kill()
    run.process.wait(timeout=10)


def test_the_next_up_waits_for_the_index_then_applies_the_rest(
    fresh_db_url: str, tmp_path: Path
) -> None:
    directory = _files(tmp_path / "m", seconds=1.5)
    _kill_while_the_index_builds(fresh_db_url, directory)
    assert state(fresh_db_url) == [(2, True)]

    version = cli("version", "--dir", str(directory), url=fresh_db_url)
    plan = cli("plan", "--dir", str(directory), url=fresh_db_url)
    up = cli("up", "--dir", str(directory), url=fresh_db_url)

    assert version.returncode == exit_codes.DIRTY  # as before, but it says what is happening
    assert one_error_line(version).startswith(
        "error: database is dirty at version 2 while 000002_index.up.sql runs: statement 1 of 1 "
        "(line 2) `CREATE INDEX CONCURRENTLY t_slow ON t (slow_identity(x))`, sent "
    )
    assert "`up` waits for it, checks what it left and goes on" in version.stderr
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
    what it leaves is an invalid index, which the next ``up`` finds and names."""
    directory = _files(tmp_path / "m", rows="(1), (1)", unique="UNIQUE ", seconds=0.5)
    _kill_while_the_index_builds(fresh_db_url, directory)
    while _running(fresh_db_url):
        time.sleep(0.1)

    up = cli("up", "--dir", str(directory), url=fresh_db_url)
    again = cli("up", "--dir", str(directory), url=fresh_db_url)

    assert up.returncode == exit_codes.DIRTY, up.stderr
    line = one_error_line(up)
    assert line.startswith(
        "error: 000002_index.up.sql line 2: statement `CREATE UNIQUE INDEX CONCURRENTLY t_slow "
    )
    assert "failed: it left invalid index t_slow (a CREATE INDEX CONCURRENTLY that failed" in line
    assert "DROP INDEX CONCURRENTLY it" in line
    assert "force 1` to re-run 000002_index.up.sql" in line
    assert state(fresh_db_url) == [(2, True)]
    # Reported once: from now on it is golang-migrate's plain dirty state, for a person.
    assert one_error_line(again).startswith("error: database is dirty at version 2 (")


def test_a_dirty_row_golang_migrate_rewrote_is_not_continued(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """A person forced the version, then golang-migrate's own run of the file failed: the
    dirty row is golang-migrate's now, and the row this engine left is not about it."""
    directory = _files(tmp_path / "m", seconds=0.5)
    _kill_while_the_index_builds(fresh_db_url, directory)
    while _running(fresh_db_url):
        time.sleep(0.1)
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
