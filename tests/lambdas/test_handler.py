"""The migration Lambda end to end: CloudFormation event -> handler -> boto3 -> HTTP ->
Data API emulator -> PostgreSQL, checked afterwards on a direct connection."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dbaccess.roles import RoleSet
from lambdas.migration_runner import handler
from lambdas.migration_runner.runner import MAX_REASON_BYTES, DeploymentError
from tests.fixtures.golang_migrate import GolangMigrate
from tests.lambdas._support import (
    LambdaContextStub,
    copy_repo_migrations,
    create_event,
    delete_event,
    deploy,
    framework_response_bytes,
    history,
    log_lines,
    properties,
    query,
    role_properties,
    snapshot,
    state,
    tables,
    update_event,
    write_bundle,
    write_migration,
)
from tests.lambdas.conftest import LambdaEnv

CONTEXT = LambdaContextStub()
APP_TABLES = {"users", "posts", "tags", "post_tags"}
ADD_BIO = "ALTER TABLE users ADD COLUMN bio text;\n"
BAD_SECOND_FILE = """\
CREATE TABLE b_first (id int);
INSERT INTO no_such_table (id) VALUES (1);
CREATE TABLE b_last (id int);
"""


def _fails(event: dict[str, object], context: LambdaContextStub = CONTEXT) -> str:
    """Run the handler expecting FAILED; return the reason CloudFormation would show."""
    with pytest.raises(DeploymentError) as failure:
        deploy(event, context)
    reason = str(failure.value)
    assert "\n" not in reason
    assert len(json.dumps(reason, ensure_ascii=False).encode()) <= MAX_REASON_BYTES
    assert framework_response_bytes(event, reason) < 4096
    return reason


def _two_file_dir(tmp_path: Path, second: str, name: str = "000002_second.up.sql") -> Path:
    directory = tmp_path / "migrations"
    write_migration(directory, "000001_first.up.sql", "CREATE TABLE a (id int);\n")
    write_migration(directory, name, second)
    return directory


def test_create_applies_every_migration_and_logs_each_step(
    lambda_env: LambdaEnv,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    app_roles: RoleSet,
    rds_iam: str,
) -> None:
    bundle = write_bundle(copy_repo_migrations(tmp_path / "m"), lambda_env.bundle_file)
    props = properties(lambda_env.endpoint, bundle, **role_properties(app_roles))
    event = create_event(props)

    response = deploy(event, CONTEXT)

    assert response == {
        "PhysicalResourceId": "schema-migrations",
        "Data": {
            "Version": "4",
            "Applied": "1,2,3,4",
            "Message": "applied 4 migration(s) up; now at 4",
            "Access": "app_ro: created; app_rw: created",
        },
    }
    assert state(lambda_env.db_url) == [(4, False)]
    assert tables(lambda_env.db_url) == APP_TABLES | {
        "schema_migrations",
        "schema_migrations_history",
    }
    assert [row[0] for row in history(lambda_env.db_url)] == [1, 2, 3, 4]
    assert {row[3] for row in history(lambda_env.db_url)} == {
        f"cloudformation:AppData-dev/MigrationRunnerSchemaMigrations5A1C2D3E {event['RequestId']}"
    }
    steps = [line for line in log_lines(capsys.readouterr().out) if line.get("event") == "step"]
    assert [s["file"] for s in steps] == [m.up.path for m in bundle.migrations]
    assert all(isinstance(s["duration_ms"], int) and s["level"] == "INFO" for s in steps)


def test_update_with_a_new_migration_applies_only_that_one(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    migrations = copy_repo_migrations(tmp_path / "m")
    old = properties(lambda_env.endpoint, write_bundle(migrations, lambda_env.bundle_file))
    deploy(create_event(old), CONTEXT)
    write_migration(migrations, "000005_add_user_bio.up.sql", ADD_BIO)
    new = properties(lambda_env.endpoint, write_bundle(migrations, lambda_env.bundle_file))

    response = deploy(update_event(new, old), CONTEXT)

    assert response["PhysicalResourceId"] == "schema-migrations"
    assert response["Data"]["Applied"] == "5"
    assert response["Data"]["Version"] == "5"
    assert state(lambda_env.db_url) == [(5, False)]
    assert [row[0] for row in history(lambda_env.db_url)] == [1, 2, 3, 4, 5]
    assert query(
        lambda_env.db_url,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'users' AND column_name = 'bio'",
    ) == [("text",)]


def test_rollback_update_to_an_older_bundle_succeeds_and_leaves_the_database_ahead(
    lambda_env: LambdaEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_dir = copy_repo_migrations(tmp_path / "old")
    old = properties(lambda_env.endpoint, write_bundle(old_dir, lambda_env.bundle_file))
    deploy(create_event(old), CONTEXT)
    new_dir = copy_repo_migrations(tmp_path / "new")
    write_migration(new_dir, "000005_add_user_bio.up.sql", ADD_BIO)
    new = properties(lambda_env.endpoint, write_bundle(new_dir, lambda_env.bundle_file))
    deploy(update_event(new, old), CONTEXT)
    before = snapshot(lambda_env.db_url)
    # The stack's later failure rolls back: the old code (old bundle) gets the old properties.
    write_bundle(old_dir, lambda_env.bundle_file)
    capsys.readouterr()

    response = deploy(update_event(old, new), CONTEXT)

    assert response["PhysicalResourceId"] == "schema-migrations"
    assert response["Data"]["Version"] == "5"
    assert response["Data"]["Applied"] == ""
    assert "ahead" in response["Data"]["Message"]
    assert snapshot(lambda_env.db_url) == before
    warnings = [line for line in log_lines(capsys.readouterr().out) if line["level"] == "WARNING"]
    assert [w["event"] for w in warnings] == ["ahead", "access-skipped"]  # no Roles: old template
    assert "forward-only" in warnings[0]["message"]


def test_delete_touches_nothing_and_keeps_the_physical_id(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    props = properties(
        lambda_env.endpoint,
        write_bundle(copy_repo_migrations(tmp_path / "m"), lambda_env.bundle_file),
    )
    deploy(create_event(props), CONTEXT)
    query(lambda_env.db_url, "INSERT INTO users (email, name) VALUES ('a@example.com', 'A')")
    before = snapshot(lambda_env.db_url)
    # Any Data API call would now fail, and the asset's bundle is gone: Delete needs neither.
    lambda_env.endpoint.inject_faults({"BadRequestException": 1000})
    lambda_env.bundle_file.unlink()

    response = deploy(delete_event(props), CONTEXT)

    assert response == {"PhysicalResourceId": "schema-migrations"}
    assert snapshot(lambda_env.db_url) == before
    assert query(lambda_env.db_url, "SELECT email FROM users") == [("a@example.com",)]


def test_a_failing_statement_names_file_statement_and_error_and_leaves_the_previous_version(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    bundle = write_bundle(_two_file_dir(tmp_path, BAD_SECOND_FILE), lambda_env.bundle_file)

    reason = _fails(create_event(properties(lambda_env.endpoint, bundle)))

    assert reason.startswith("schema migration failed: 000002_second.up.sql line 2: ")
    assert "statement `INSERT INTO no_such_table (id) VALUES (1)`" in reason
    assert 'relation "no_such_table" does not exist' in reason
    assert "42P01" in reason
    assert reason.endswith("database left at version 1, not dirty (read back after the failure)")
    assert state(lambda_env.db_url) == [(1, False)]
    assert "b_first" not in tables(lambda_env.db_url)


def test_a_huge_error_is_cut_to_fit_and_keeps_file_and_state(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    # Multi-byte characters and quotes: JSON escaping and UTF-8 both grow the reason.
    huge = f"DO $$ BEGIN RAISE EXCEPTION '%', repeat('é\"ü\\\\', 20000); END $$;\n-- {'ß' * 3000}\n"
    bundle = write_bundle(
        _two_file_dir(tmp_path, huge, name=f"000002_{'x' * 200}.up.sql"), lambda_env.bundle_file
    )

    reason = _fails(create_event(properties(lambda_env.endpoint, bundle)))

    assert reason.startswith(f"schema migration failed: 000002_{'x' * 200}.up.sql line 1: ")
    assert 'é"ü\\' in reason
    assert "…" in reason
    assert reason.endswith("; database left at version 1, not dirty (read back after the failure)")
    assert state(lambda_env.db_url) == [(1, False)]


def test_a_failing_non_transactional_file_leaves_it_dirty_and_says_how_to_force(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    second = "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY idx_x ON no_such_table (x);\n"
    bundle = write_bundle(_two_file_dir(tmp_path, second), lambda_env.bundle_file)
    props = properties(lambda_env.endpoint, bundle)
    force_1 = "python -m ops migrate force 1 --env dev --region us-east-1"

    first = _fails(create_event(props))
    retried = _fails(update_event(props, props))

    assert "000002_second.up.sql line 2" in first
    assert 'relation "no_such_table" does not exist' in first
    assert "dirty at version 2" in first
    assert f"`{force_1}` to re-run 000002_second.up.sql" in first
    assert state(lambda_env.db_url) == [(2, True)]
    assert retried.startswith("schema migration failed: database is dirty at version 2")
    assert force_1 in retried


def test_properties_that_do_not_match_the_bundle_fail_as_a_stale_asset(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    bundle = write_bundle(copy_repo_migrations(tmp_path / "m"), lambda_env.bundle_file)
    wrong_sum = properties(lambda_env.endpoint, bundle, BundleChecksum="0" * 64)
    wrong_target = properties(lambda_env.endpoint, bundle, TargetVersion="3")

    by_sum = _fails(create_event(wrong_sum))
    by_target = _fails(create_event(wrong_target))

    assert by_sum.startswith("stale migration asset: the properties ask for BundleChecksum 000")
    assert bundle.bundle_checksum in by_sum
    assert "TargetVersion 3, but this function's bundle.json has" in by_target
    assert "nothing was run" in by_target
    assert tables(lambda_env.db_url) == set()


@pytest.mark.parametrize(
    "name", ["ClusterArn", "SecretArn", "Database", "TargetVersion", "BundleChecksum"]
)
def test_a_missing_or_blank_property_is_named(
    lambda_env: LambdaEnv, tmp_path: Path, name: str
) -> None:
    bundle = write_bundle(copy_repo_migrations(tmp_path / "m"), lambda_env.bundle_file)
    missing = properties(lambda_env.endpoint, bundle)
    del missing[name]
    blank = properties(lambda_env.endpoint, bundle, **{name: "  "})

    assert _fails(create_event(missing)) == (
        f"invalid custom resource properties: {name} is missing"
    )
    assert _fails(create_event(blank)) == f"invalid custom resource properties: {name} is blank"
    assert tables(lambda_env.db_url) == set()


def test_a_resuming_cluster_is_retried_and_the_create_succeeds(
    lambda_env: LambdaEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = write_bundle(copy_repo_migrations(tmp_path / "m"), lambda_env.bundle_file)
    lambda_env.endpoint.inject_faults({"DatabaseResumingException": 2})

    response = deploy(create_event(properties(lambda_env.endpoint, bundle)), CONTEXT)

    assert response["Data"]["Applied"] == "1,2,3,4"
    assert state(lambda_env.db_url) == [(4, False)]
    retries = [
        line
        for line in log_lines(capsys.readouterr().out)
        if "DatabaseResumingException" in line["message"]
    ]
    assert [r["level"] for r in retries] == ["WARNING", "WARNING"]


def test_retries_stop_at_the_lambda_deadline_with_a_clear_reason(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    bundle = write_bundle(copy_repo_migrations(tmp_path / "m"), lambda_env.bundle_file)
    lambda_env.endpoint.inject_faults({"DatabaseResumingException": 1})
    at_the_margin = LambdaContextStub(remaining_ms=int(handler.DEADLINE_MARGIN_SECONDS * 1000))

    reason = _fails(create_event(properties(lambda_env.endpoint, bundle)), at_the_margin)

    assert "DatabaseResumingException" in reason
    assert "gave up after 1 attempts" in reason
    assert reason.endswith("database left at version none, not dirty (read back after the failure)")


def test_timeouts_from_the_properties_reach_the_migration_transaction(
    lambda_env: LambdaEnv, tmp_path: Path
) -> None:
    check = """\
DO $$ BEGIN
    IF current_setting('lock_timeout') <> '1234ms'
       OR current_setting('statement_timeout') <> '5678ms' THEN
        RAISE EXCEPTION 'timeouts were %, %',
            current_setting('lock_timeout'), current_setting('statement_timeout');
    END IF;
END $$;
"""
    bundle = write_bundle(_two_file_dir(tmp_path, check), lambda_env.bundle_file)
    props = properties(lambda_env.endpoint, bundle, LockTimeoutMs="1234", StatementTimeoutMs="5678")

    response = deploy(create_event(props), CONTEXT)

    assert response["Data"]["Version"] == "2"


def test_a_deploy_during_a_migrate_run_fails_naming_the_lock_and_applies_nothing(
    lambda_env: LambdaEnv, tmp_path: Path, golang_migrate: GolangMigrate
) -> None:
    """A person's ``migrate up`` holds golang-migrate's lock: the runner waits LockWaitMs,
    then fails the deploy saying who holds it, with nothing of its own applied."""
    directory = _two_file_dir(tmp_path, "SELECT 1;")
    slow = tmp_path / "slow"
    write_migration(slow, "000001_first.up.sql", "SELECT pg_sleep(30);")
    bundle = write_bundle(directory, lambda_env.bundle_file)
    holder = golang_migrate.start(lambda_env.db_url, slow, "up")
    try:
        _wait_for_migrate_lock(lambda_env.db_url)
        props = properties(lambda_env.endpoint, bundle, LockWaitMs="500")
        reason = _fails(create_event(props))
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert reason.startswith("schema migration failed: another migration tool holds the migration ")
    assert (
        "(golang-migrate's `migrate`, or another run of this one): gave up after waiting 0.5 s"
        in (reason)
    )
    # migrate's own run is mid-file (dirty): the reason must not tell anyone to force it.
    assert "DIRTY" not in reason and "force" not in reason
    assert reason.endswith("let it finish (`version` shows where it is), then run this again")
    assert "a" not in tables(lambda_env.db_url)


def _wait_for_migrate_lock(url: str) -> None:
    """Until a session without application_name (lib/pq, golang-migrate) holds an advisory lock."""
    deadline = time.monotonic() + 15
    sql = (
        "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid) "
        "WHERE locktype = 'advisory' AND granted AND application_name = ''"
    )
    while query(url, sql) != [(1,)]:
        assert time.monotonic() < deadline, "golang-migrate never took its lock"
        time.sleep(0.02)
