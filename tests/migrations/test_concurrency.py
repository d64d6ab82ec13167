"""Runners started at the same moment apply every migration exactly once, without errors."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dbmigrate.engine import RunResult
from tests.migrations._helpers import (
    MIGRATIONS,
    copy_standard,
    engine,
    history,
    query,
    state,
    write,
)

RUNNERS = 4


def race(url: str, directory: Path) -> tuple[list[RunResult], list[BaseException]]:
    """Start RUNNERS engines, each on its own connection, released together by a barrier."""
    barrier = threading.Barrier(RUNNERS)
    results: list[RunResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with engine(url, directory) as e:
                barrier.wait(timeout=10)
                results.append(e.up())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(RUNNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_standard_migrations_applied_exactly_once(fresh_db_url: str) -> None:
    results, errors = race(fresh_db_url, MIGRATIONS)
    assert errors == []
    assert sorted(v for r in results for v in r.applied_versions) == [1, 2, 3, 4]
    assert sorted(h[0] for h in history(fresh_db_url)) == [1, 2, 3, 4]
    assert state(fresh_db_url) == [(4, False)]


def test_non_idempotent_migrations_applied_exactly_once(tmp_path: Path, fresh_db_url: str) -> None:
    """A second application would fail (CREATE without IF NOT EXISTS) or double a row."""
    copy_standard(tmp_path)
    write(tmp_path, "000005_counter.up.sql", "CREATE TABLE counter (n int);\nSELECT pg_sleep(0.3);")
    write(tmp_path, "000006_count.up.sql", "INSERT INTO counter VALUES (1);")
    write(tmp_path, "000007_more.up.sql", "CREATE TABLE more (id int);\nSELECT pg_sleep(0.1);")
    results, errors = race(fresh_db_url, tmp_path)
    assert errors == []
    applied: list[Any] = sorted(v for r in results for v in r.applied_versions)
    assert applied == [1, 2, 3, 4, 5, 6, 7]
    assert query(fresh_db_url, "SELECT count(*) FROM counter") == [(1,)]
    assert sorted(h[0] for h in history(fresh_db_url)) == [1, 2, 3, 4, 5, 6, 7]
    assert state(fresh_db_url) == [(7, False)]


def test_a_database_defaulting_to_repeatable_read_still_applies_each_file_once(
    tmp_path: Path, fresh_db_url: str
) -> None:
    """The lock-then-read protocol needs READ COMMITTED: under REPEATABLE READ the read after
    the lock wait would see the snapshot from before it. The engine asks for it explicitly."""
    database = fresh_db_url.rsplit("/", 1)[1]
    query(
        fresh_db_url,
        f"ALTER DATABASE {database} SET default_transaction_isolation = 'repeatable read'",
    )
    assert query(fresh_db_url, "SHOW default_transaction_isolation") == [("repeatable read",)]
    copy_standard(tmp_path)
    write(tmp_path, "000005_slow.up.sql", "CREATE TABLE slow (n int);\nSELECT pg_sleep(0.3);")
    write(tmp_path, "000006_count.up.sql", "INSERT INTO slow VALUES (1);")
    results, errors = race(fresh_db_url, tmp_path)
    assert errors == []
    assert sorted(v for r in results for v in r.applied_versions) == [1, 2, 3, 4, 5, 6]
    assert query(fresh_db_url, "SELECT count(*) FROM slow") == [(1,)]
    assert state(fresh_db_url) == [(6, False)]


def test_many_small_files_raced_in_batches_are_each_applied_and_reported_once(
    tmp_path: Path, fresh_db_url: str
) -> None:
    """Runners' requests of many files interleave file by file at the lock: each file still
    runs once, and exactly one runner reports it (what a request committed is read back)."""
    write(tmp_path, "000001_ledger.up.sql", "CREATE TABLE ledger (n int PRIMARY KEY);")
    for n in range(2, 121):
        write(tmp_path, f"{n:06d}_entry.up.sql", f"INSERT INTO ledger VALUES ({n});")
    results, errors = race(fresh_db_url, tmp_path)
    assert errors == []
    reported = sorted(v for r in results for v in r.applied_versions)
    assert reported == list(range(1, 121))
    assert query(fresh_db_url, "SELECT count(*), min(n), max(n) FROM ledger") == [(119, 2, 120)]
    assert sorted(h[0] for h in history(fresh_db_url)) == list(range(1, 121))
    assert state(fresh_db_url) == [(120, False)]
