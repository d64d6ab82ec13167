"""``python -m ops migrate`` as scripts use it: exit codes, --json, one-line errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dbmigrate.hints import DIRTY_CAUSE
from tests.migrations._helpers import (
    NO_TX,
    REPO,
    cli,
    copy_standard,
    history,
    one_error_line,
    query,
    state,
    without_urls,
    write,
)


def test_up_json_then_version_and_plan(fresh_db_url: str) -> None:
    up = cli("up", "--json", url=fresh_db_url)
    assert up.returncode == 0, up.stderr
    document: dict[str, Any] = json.loads(up.stdout)
    assert document["ok"] is True and document["command"] == "up"
    assert [a["version"] for a in document["applied"]] == [1, 2, 3, 4]
    assert document["end_version"] == 4
    progress = up.stderr.splitlines()
    assert progress[0] == (
        "migrate: applying 000001_create_users_table.up.sql to 000004_create_tags.up.sql "
        "(4 files, up, each in its own transaction)"
    )
    durations = {a["file"]: a["duration_ms"] for a in document["applied"]}
    assert progress[1:] == [
        *(f"migrate: applied {file} (up) in {ms} ms" for file, ms in durations.items()),
        "migrate: applied 4 migration(s) up; now at 4",
    ]

    version = cli("version", env_url=fresh_db_url)
    assert (version.returncode, version.stdout) == (0, "4\n")
    plan = cli("--json", "plan", env_url=fresh_db_url)  # options before the subcommand work too
    assert plan.returncode == 0
    assert json.loads(plan.stdout)["steps"] == []


def test_up_n_down_n_goto_and_plan_text(fresh_db_url: str) -> None:
    assert cli("up", "1", url=fresh_db_url).returncode == 0
    plan = cli("plan", url=fresh_db_url)
    assert plan.stdout.splitlines() == [
        "pending: 000002_add_updated_at_trigger.up.sql",
        "pending: 000003_create_posts_table.up.sql",
        "pending: 000004_create_tags.up.sql",
        "3 migration(s) pending",
    ]
    assert cli("goto", "3", url=fresh_db_url).stdout == "applied 2 migration(s) up; now at 3\n"
    down = cli("down", "2", url=fresh_db_url)
    assert (down.returncode, down.stdout) == (0, "applied 2 migration(s) down; now at 1\n")
    assert cli("down", "--all", url=fresh_db_url).returncode == 0
    assert state(fresh_db_url) == []


def test_missing_url_is_a_usage_error() -> None:
    result = cli("up")
    assert result.returncode == 2
    assert one_error_line(result) == (
        "error: no database: pass --database-url (or set MIGRATIONS_DATABASE_URL or "
        "DATABASE_URL), or --env ENV for a deployed environment over the RDS Data API"
    )


def test_migrations_database_url_comes_before_database_url(fresh_db_url: str) -> None:
    """make local's .env: DATABASE_URL is the application's role, which cannot migrate."""
    env = without_urls() | {
        "MIGRATIONS_DATABASE_URL": fresh_db_url,
        "DATABASE_URL": "postgresql://app_rw@127.0.0.1:1/nowhere",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ops", "migrate", "up"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert state(fresh_db_url) == [(4, False)]


def test_unreachable_database_is_one_line_without_password() -> None:
    result = cli("version", url="postgresql://app:s3cret@127.0.0.1:1/app")
    assert result.returncode == 1
    line = one_error_line(result)
    assert line.startswith("error: cannot connect to postgresql://app@127.0.0.1:1/app: ")
    # psycopg 3's words: a failed psycopg2 connection is retried with psycopg 3, whose
    # message the CLI has always shown (psycopg2's lacks "connection failed: ").
    assert "app: connection failed: connection to server at" in line
    assert "s3cret" not in result.stderr + result.stdout


def test_malformed_url_is_a_usage_error() -> None:
    result = cli("version", "--json", url="definitely not a url")
    assert result.returncode == 2
    assert one_error_line(result).startswith("error: invalid database URL")
    assert json.loads(result.stdout)["error_type"] == "InvalidConnectionStringError"


@pytest.mark.parametrize(
    "args",
    [["frobnicate"], ["down"], ["up", "0"], ["goto"], ["force", "-2"], ["up", "x"]],
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "usage:" in result.stderr


def test_help_documents_exit_codes() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for code in ("0 ", "1 ", "2 ", "3 "):
        assert f"\n  {code}" in result.stdout
    assert "database is dirty" in result.stdout


def test_bad_migration_file_is_a_usage_error(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_a.up.sql", "SELECT 1;\nCREATE INDEX CONCURRENTLY i ON t (x);\n")
    result = cli("up", "--dir", str(tmp_path), url=fresh_db_url)
    assert result.returncode == 2
    assert one_error_line(result).startswith(
        "error: 000001_a.up.sql line 2: CREATE INDEX CONCURRENTLY cannot run inside a transaction"
    )


def test_failing_statement_exits_1_with_one_line(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);\nSELECT * FROM\n  nowhere;\n")
    result = cli("up", "--json", "--dir", str(tmp_path), url=fresh_db_url)
    assert result.returncode == 1
    line = one_error_line(result)
    assert line.startswith(
        "error: 000001_a.up.sql line 2: statement `SELECT * FROM nowhere` failed"
    )
    document = json.loads(result.stdout)
    assert document == {
        "ok": False,
        "command": "up",
        "error": line.removeprefix("error: "),
        "error_type": "StatementError",
        "exit_code": 1,
    }


def test_dirty_database_exits_3_until_forced(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_t.up.sql", "CREATE TABLE t (x int);")
    write(tmp_path, "000002_i.up.sql", f"{NO_TX}CREATE INDEX CONCURRENTLY i ON t (nope);")
    failed = cli("up", "--dir", str(tmp_path), url=fresh_db_url)
    assert failed.returncode == 3
    assert "`python -m ops migrate force 2`" in one_error_line(failed)

    refused = cli("up", "--dir", str(tmp_path), url=fresh_db_url)
    assert refused.returncode == 3
    assert one_error_line(refused) == (
        "error: database is dirty at version 2 (" + DIRTY_CAUSE + "): "
        "fix the schema by hand, then run `python -m ops migrate force 2` (or `python -m ops "
        "migrate force 1` to re-run 000002_i.up.sql)"
    )
    version = cli("version", "--dir", str(tmp_path), url=fresh_db_url)
    assert (version.returncode, version.stdout) == (3, "2 (dirty)\n")
    as_json = cli("version", "--json", "--dir", str(tmp_path), url=fresh_db_url)
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout) == {
        "ok": False,
        "command": "version",
        "version": 2,
        "dirty": True,
    }

    forced = cli("force", "1", "--dir", str(tmp_path), url=fresh_db_url)
    assert (forced.returncode, forced.stdout) == (0, "forced version 1\n")
    assert state(fresh_db_url) == [(1, False)]


def test_create_makes_the_next_pair(tmp_path: Path) -> None:
    copy_standard(tmp_path)
    result = cli("create", "add_orders", "--dir", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)["created"]
    assert [Path(p).name for p in created] == [
        "000005_add_orders.up.sql",
        "000005_add_orders.down.sql",
    ]
    bad = cli("create", "Add Orders", "--dir", str(tmp_path))
    assert bad.returncode == 2
    assert one_error_line(bad).startswith("error: invalid migration name 'Add Orders'")


def test_processes_started_together_apply_each_migration_once(fresh_db_url: str) -> None:
    env = {**without_urls(), "DATABASE_URL": fresh_db_url}
    command = [sys.executable, "-m", "ops", "migrate", "up", "--json"]
    processes = [
        subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    applied = sorted(a["version"] for out, _ in outputs for a in json.loads(out)["applied"])
    assert applied == [1, 2, 3, 4]
    assert sorted(h[0] for h in history(fresh_db_url)) == [1, 2, 3, 4]


def test_ctrl_c_rolls_back_the_running_file_and_says_where_to_look(
    tmp_path: Path, fresh_db_url: str
) -> None:
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(tmp_path, "000002_slow.up.sql", "CREATE TABLE s (id int);\nSELECT pg_sleep(60);\n")
    command = [sys.executable, "-m", "ops", "migrate", "up", "--dir", str(tmp_path)]
    env = {**without_urls(), "DATABASE_URL": fresh_db_url}
    with subprocess.Popen(
        command, cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            _wait_until_sleeping(fresh_db_url)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=20)
        finally:
            process.kill()
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (
        "error: interrupted: the file that was running was rolled back (each file is all or "
        "nothing), files sent with it may have committed: run `version` to see the database's "
        "version"
    )
    assert state(fresh_db_url) == [(1, False)]
    assert query(fresh_db_url, "SELECT to_regclass('s') IS NULL") == [(True,)]
    assert query(
        fresh_db_url,
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()",
    ) == [(0,)]


def _wait_until_sleeping(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        running = query(
            url,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid()",
        )
        if running[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError("the migration never reached its pg_sleep")
