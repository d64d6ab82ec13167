"""Deploys longer than one invocation: onEvent, then isComplete until done, as the Provider
framework drives them, through the handler, boto3 and the Data API emulator.

The budgets are tiny (one second) and the files slow (``pg_sleep``), so a few
seconds of SQL take several invocations.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from lambdas.migration_runner import handler
from lambdas.migration_runner.runner import MAX_REASON_BYTES, RUN_KEY, DeploymentError
from lambdas.migration_runner.timing import REPORT_MARGIN_SECONDS
from tests.fixtures.data_api import DataApiEndpoint
from tests.lambdas._support import (
    LambdaContextStub,
    create_event,
    framework_response_bytes,
    history,
    log_lines,
    properties,
    provide,
    query,
    state,
    update_event,
    write_bundle,
    write_migration,
)
from tests.lambdas.conftest import LambdaEnv

CONTEXT = LambdaContextStub()
TINY_BUDGET = {"InvocationBudgetSeconds": "1", "QueryIntervalSeconds": "5"}
SLOW_FILE = "CREATE TABLE t{n} (id int);\nSELECT pg_sleep(0.1);\n"
NO_TX = "-- migrate:no-transaction\n"
SLOW_FUNCTION = """\
CREATE TABLE t (x int);
INSERT INTO t VALUES (1);
CREATE FUNCTION slow_identity(v int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep({seconds});
    RETURN v;
END $$;
"""
SLOW_INDEX = f"{NO_TX}CREATE INDEX CONCURRENTLY t_slow ON t (slow_identity(x));\n"
"""A real CREATE INDEX CONCURRENTLY that takes seconds: it calls the function per row, to
build the index and again to validate it."""


class Calls:
    """The handler's invocations, as the framework makes them, with what each returned."""

    def __init__(self) -> None:
        self.returned: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        result = handler.main(event, CONTEXT)
        self.returned.append(result)
        return result

    @property
    def not_yet(self) -> int:
        return sum(1 for r in self.returned if r.get("IsComplete") is False)


def _slow_files(directory: Path, count: int, *, failing: int | None = None) -> Path:
    for n in range(1, count + 1):
        sql = "INSERT INTO no_such_table VALUES (1);\n" if n == failing else SLOW_FILE
        write_migration(directory, f"{n:06d}_step.up.sql", sql.format(n=n))
    return directory


def _fails_with(calls: Calls, event: dict[str, Any]) -> str:
    with pytest.raises(DeploymentError) as failure:
        provide(event, calls, calls)
    reason = str(failure.value)
    assert "\n" not in reason
    assert len(json.dumps(reason, ensure_ascii=False).encode()) <= MAX_REASON_BYTES
    assert framework_response_bytes(event, reason) < 4096
    return reason


def test_many_files_span_invocations_each_applied_once_and_reported_whole(
    lambda_env: LambdaEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = write_bundle(_slow_files(tmp_path / "m", 25), lambda_env.bundle_file)
    calls = Calls()

    response = provide(
        create_event(properties(lambda_env.endpoint, bundle, **TINY_BUDGET)), calls, calls
    )

    assert calls.not_yet >= 2  # 2.5 s of SQL, a 1 s budget
    assert [row[0] for row in history(lambda_env.db_url)] == list(range(1, 26))
    assert state(lambda_env.db_url) == [(25, False)]
    assert response["Data"]["Version"] == "25"
    assert response["Data"]["Applied"] == ",".join(str(n) for n in range(1, 26))
    assert response["Data"]["Message"] == "applied 25 migration(s) up; now at 25"
    progress = [x for x in log_lines(capsys.readouterr().out) if x.get("event") == "progress"]
    assert len(progress) == calls.not_yet
    assert "of 25 bundled files applied" in progress[0]["message"]
    assert progress[0]["message"].endswith("left; next check in 5 s")


@pytest.fixture
def short_calls(
    lambda_env: LambdaEnv, data_api_short_timeout: DataApiEndpoint, monkeypatch: pytest.MonkeyPatch
) -> DataApiEndpoint:
    """The emulator cutting calls after half a second, as the service does at 45 s."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_RDS_DATA", data_api_short_timeout.url)
    return data_api_short_timeout


def test_a_long_no_transaction_statement_is_waited_for_across_invocations(
    lambda_env: LambdaEnv,
    short_calls: DataApiEndpoint,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = tmp_path / "m"
    write_migration(directory, "000001_t.up.sql", SLOW_FUNCTION.format(seconds=4))
    write_migration(directory, "000002_slow.up.sql", SLOW_INDEX)
    write_migration(directory, "000003_after.up.sql", "CREATE TABLE after_it (x int);\n")
    bundle = write_bundle(directory, lambda_env.bundle_file)
    calls = Calls()

    response = provide(create_event(properties(short_calls, bundle, **TINY_BUDGET)), calls, calls)

    assert calls.not_yet >= 2
    assert response["Data"]["Applied"] == "1,2,3"
    assert state(lambda_env.db_url) == [(3, False)]
    assert [row[0] for row in history(lambda_env.db_url)] == [1, 2, 3]
    assert query(lambda_env.db_url, "SELECT count(*) FROM schema_migrations_running") == [(0,)]
    waiting = [x for x in log_lines(capsys.readouterr().out) if x.get("event") == "waiting"]
    assert waiting, "each invocation that found it running says so"
    assert waiting[0]["message"].startswith(
        "000002_slow.up.sql statement 1 of 1 (line 2) `CREATE INDEX CONCURRENTLY t_slow ON t "
        "(slow_identity(x))` still running"
    )
    assert query(
        lambda_env.db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_slow'::regclass"
    ) == [(True,)]


def test_a_failure_midway_reports_the_file_and_statement_after_earlier_invocations(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    bundle = write_bundle(_slow_files(tmp_path / "m", 20, failing=15), lambda_env.bundle_file)
    calls = Calls()

    reason = _fails_with(
        calls, create_event(properties(lambda_env.endpoint, bundle, **TINY_BUDGET))
    )

    assert calls.not_yet >= 1
    assert reason.startswith("schema migration failed: 000015_step.up.sql line 1: statement ")
    assert "`INSERT INTO no_such_table VALUES (1)`" in reason
    assert 'relation "no_such_table" does not exist' in reason
    assert reason.endswith("database left at version 14, not dirty (read back after the failure)")
    assert state(lambda_env.db_url) == [(14, False)]


def _timed_out_event(props: dict[str, str], seconds_ago: float) -> dict[str, Any]:
    """An isComplete call of a run that onEvent accepted ``seconds_ago``."""
    return {
        **create_event(props),
        "PhysicalResourceId": "schema-migrations",
        RUN_KEY: {"StartedAt": time.time() - seconds_ago},
    }


def test_past_the_total_timeout_the_reason_says_what_is_left_and_the_command(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    """The last invocation that has time works its budget, then fails the deploy itself."""
    bundle = write_bundle(_slow_files(tmp_path / "m", 25), lambda_env.bundle_file)
    props = properties(lambda_env.endpoint, bundle, **TINY_BUDGET)
    # The runner's own limit (total - REPORT_MARGIN_SECONDS) is 3 s away: one budget's work.
    event = _timed_out_event(props, 3600 - REPORT_MARGIN_SECONDS - 3)

    with pytest.raises(DeploymentError) as failure:
        handler.main(event, CONTEXT)

    reason = str(failure.value)
    assert re.match(
        r"schema migration did not finish within the deploy's 60-minute total timeout "
        r"\(migrations.total_timeout_minutes\): files are still pending; applied (\d+) file\(s\) "
        r"in this call; database at version \1: \1 of 25 bundled files applied, \d+ left; ",
        reason,
    ), reason
    assert "`python -m ops migrate up --env dev --region us-east-1`" in reason
    assert "`python -m ops migrate version --env dev --region us-east-1`" in reason
    assert framework_response_bytes(event, reason) < 4096
    ((version, dirty),) = state(lambda_env.db_url)
    assert 1 <= version < 25 and not dirty


def test_past_the_runners_own_limit_no_file_is_started(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    bundle = write_bundle(_slow_files(tmp_path / "m", 3), lambda_env.bundle_file)
    event = _timed_out_event(properties(lambda_env.endpoint, bundle, **TINY_BUDGET), 3600 - 60)

    with pytest.raises(DeploymentError) as failure:
        handler.main(event, CONTEXT)

    assert (
        "files are still pending; no time left to start a file; database at version none: "
        "0 of 3 bundled files applied, 3 left" in str(failure.value)
    )
    assert query(lambda_env.db_url, "SELECT to_regclass('t1') IS NULL") == [(True,)]


def test_a_statement_still_running_at_the_total_timeout_is_named_then_rollback_leaves_it(
    lambda_env: LambdaEnv,
    short_calls: DataApiEndpoint,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old_dir = tmp_path / "old"
    write_migration(old_dir, "000001_t.up.sql", SLOW_FUNCTION.format(seconds=1.5))
    new_dir = tmp_path / "new"
    write_migration(new_dir, "000001_t.up.sql", SLOW_FUNCTION.format(seconds=1.5))
    write_migration(new_dir, "000002_slow.up.sql", SLOW_INDEX)
    old = properties(short_calls, write_bundle(old_dir, lambda_env.bundle_file), **TINY_BUDGET)
    provide(create_event(old), Calls(), Calls())
    new = properties(short_calls, write_bundle(new_dir, lambda_env.bundle_file), **TINY_BUDGET)
    # Two seconds before the runner's own limit: the index build outlasts the budget.
    update = {
        **update_event(new, old),
        RUN_KEY: {"StartedAt": time.time() - 3600 + REPORT_MARGIN_SECONDS + 2},
    }

    with pytest.raises(DeploymentError) as failure:
        handler.main(update, CONTEXT)
    reason = str(failure.value)
    assert "a no-transaction statement is still running on the server" in reason
    assert "database at version 2 (dirty: its file is running): 1 of 2 bundled files" in reason
    logged = " ".join(x["message"] for x in log_lines(capsys.readouterr().out))
    assert "000002_slow.up.sql statement 1 of 1 (line 2) `CREATE INDEX CONCURRENTLY" in logged

    # CloudFormation rolls back: the old code and properties, the file still running.
    write_bundle(old_dir, lambda_env.bundle_file)
    response = provide(update_event(old, new), Calls(), Calls())

    assert response["Data"]["Version"] == "2"
    assert response["Data"]["Applied"] == ""
    assert "dirty at 2: left for the newer deploy" in response["Data"]["Message"]
    assert state(lambda_env.db_url) == [(2, True)]
    # The next deploy (or the operator's `up`) waits for it, then records it clean.
    write_bundle(new_dir, lambda_env.bundle_file)
    response = provide(update_event(new, old), Calls(), Calls())
    assert response["Data"]["Applied"] == "2"
    assert state(lambda_env.db_url) == [(2, False)]


def test_a_template_without_timing_runs_everything_in_on_event(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    """A rollback to a template from before the asynchronous mode: onEvent does it all; if
    the Provider still calls isComplete (this code before the old framework), it says done."""
    bundle = write_bundle(_slow_files(tmp_path / "m", 3), lambda_env.bundle_file)
    props = properties(lambda_env.endpoint, bundle)
    for name in ("TotalTimeoutSeconds", "QueryIntervalSeconds", "InvocationBudgetSeconds"):
        del props[name]

    for asynchronous in (False, True):
        calls = Calls()
        response = provide(create_event(props), calls, calls, asynchronous=asynchronous)
        assert calls.returned[0]["Data"]["Version"] == "3"
        assert calls.returned[1:] == ([{"IsComplete": True}] if asynchronous else [])
        assert response["Data"]["Version"] == "3"
    assert [row[0] for row in history(lambda_env.db_url)] == [1, 2, 3]
