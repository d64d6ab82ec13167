"""The runner's roles step, end to end: CloudFormation events -> handler -> Data API emulator.

The events carry ``Roles``/``RolesChecksum`` as the construct writes them; the
database is checked afterwards by logging in as the roles themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaccess.roles import AccessLevel, RoleSet, RoleSpec
from lambdas.migration_runner.runner import DeploymentError
from tests.access._helpers import INSUFFICIENT_PRIVILEGE, catalog_snapshot, connect_as, refused
from tests.lambdas._support import (
    LambdaContextStub,
    copy_repo_migrations,
    create_event,
    deploy,
    log_lines,
    properties,
    query,
    role_properties,
    state,
    update_event,
    write_bundle,
    write_migration,
)
from tests.lambdas.conftest import LambdaEnv

CONTEXT = LambdaContextStub()
ONLY_RW = RoleSet((RoleSpec("app_rw", AccessLevel.READ_WRITE),))
WITH_SERVICE = RoleSet((*ONLY_RW.roles, RoleSpec("app_svc", AccessLevel.READ_ONLY)))


def _props(env: LambdaEnv, tmp_path: Path, roles: RoleSet, **extra: str) -> dict[str, str]:
    bundle = write_bundle(copy_repo_migrations(tmp_path / "m"), env.bundle_file)
    return properties(env.endpoint, bundle, **role_properties(roles), **extra)


def _fails(event: dict[str, object]) -> str:
    with pytest.raises(DeploymentError) as failure:
        deploy(event, CONTEXT)
    return str(failure.value)


def test_create_makes_roles_an_application_can_use(
    lambda_env: LambdaEnv, tmp_path: Path, app_roles: RoleSet, rds_iam: str
) -> None:
    response = deploy(create_event(_props(lambda_env, tmp_path, app_roles)), CONTEXT)

    assert response["Data"]["Access"] == "app_ro: created; app_rw: created"
    url = lambda_env.db_url
    assert refused(url, "app_rw", "INSERT INTO users (email, name) VALUES ('a@b.io', 'A')") is None
    assert refused(url, "app_rw", "ALTER TABLE users ADD COLUMN x int") == INSUFFICIENT_PRIVILEGE
    assert refused(url, "app_ro", "SELECT * FROM users") is None
    assert refused(url, "app_ro", "DELETE FROM users") == INSUFFICIENT_PRIVILEGE
    members = query(url, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = "
                         "m.roleid WHERE g.rolname = 'rds_iam'")  # fmt: skip
    assert members == [(2,)]


def test_an_update_with_only_a_role_change_reconciles_it(
    lambda_env: LambdaEnv, tmp_path: Path, app_roles: RoleSet, rds_iam: str
) -> None:
    """No migration changed, only Roles: app_ro is disabled, app_svc created."""
    old = _props(lambda_env, tmp_path, app_roles)
    deploy(create_event(old), CONTEXT)
    new = {**old, **role_properties(WITH_SERVICE)}

    response = deploy(update_event(new, old), CONTEXT)

    assert response["Data"]["Applied"] == ""
    assert response["Data"]["Access"] == "app_rw: unchanged; app_svc: created; app_ro: disabled"
    with pytest.raises(Exception, match="not permitted to log in"):
        connect_as(lambda_env.db_url, "app_ro").__enter__()
    assert refused(lambda_env.db_url, "app_svc", "SELECT * FROM posts") is None


def test_the_rollback_update_restores_the_old_roles(
    lambda_env: LambdaEnv, tmp_path: Path, app_roles: RoleSet, rds_iam: str
) -> None:
    old = _props(lambda_env, tmp_path, app_roles)
    deploy(create_event(old), CONTEXT)
    before = catalog_snapshot(lambda_env.db_url, app_roles.names)
    new = {**old, **role_properties(ONLY_RW)}
    deploy(update_event(new, old), CONTEXT)

    response = deploy(update_event(old, new), CONTEXT)  # old and new swapped

    assert response["Data"]["Access"] == "app_ro: updated; app_rw: unchanged"
    assert catalog_snapshot(lambda_env.db_url, app_roles.names) == before


def test_a_table_added_by_an_update_is_usable_and_needs_no_role_change(
    lambda_env: LambdaEnv, tmp_path: Path, app_roles: RoleSet, rds_iam: str
) -> None:
    migrations = copy_repo_migrations(tmp_path / "m")
    roles = role_properties(app_roles)
    old = properties(lambda_env.endpoint, write_bundle(migrations, lambda_env.bundle_file), **roles)
    deploy(create_event(old), CONTEXT)
    write_migration(migrations, "000005_orders.up.sql", "CREATE TABLE orders (id serial, n int);\n")
    new = properties(lambda_env.endpoint, write_bundle(migrations, lambda_env.bundle_file), **roles)

    response = deploy(update_event(new, old), CONTEXT)

    assert response["Data"]["Applied"] == "5"
    assert response["Data"]["Access"] == "app_ro: unchanged; app_rw: unchanged"
    assert refused(lambda_env.db_url, "app_rw", "INSERT INTO orders (n) VALUES (1)") is None
    assert refused(lambda_env.db_url, "app_ro", "SELECT * FROM orders") is None


def test_an_unmarked_role_fails_the_deploy_after_the_migrations(
    lambda_env: LambdaEnv, tmp_path: Path, app_roles: RoleSet, rds_iam: str
) -> None:
    query(lambda_env.db_url, "CREATE ROLE app_ro LOGIN")

    reason = _fails(create_event(_props(lambda_env, tmp_path, app_roles)))

    assert reason.startswith(
        "application roles not reconciled (the migrations stay applied): role app_ro already "
        "exists and was not created by the reconciler"
    )
    assert reason.endswith("nothing was applied")
    assert state(lambda_env.db_url) == [(4, False)]
    assert [row[0] for row in catalog_snapshot(lambda_env.db_url, app_roles.names)] == ["app_ro"]


def test_a_server_without_rds_iam_fails_the_deploy(
    lambda_env: LambdaEnv, tmp_path: Path, app_roles: RoleSet
) -> None:
    reason = _fails(create_event(_props(lambda_env, tmp_path, app_roles)))

    assert "role rds_iam does not exist on this server" in reason
    assert catalog_snapshot(lambda_env.db_url, app_roles.names) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"RolesChecksum": "0" * 64}, "RolesChecksum 0000"),
        ({"RolesChecksum": ""}, "Roles and RolesChecksum come together"),
        (
            {"Roles": '[{"name":"rds_superuser","access":"read-write"}]'},
            "Roles[0].name: 'rds_superuser' is reserved",
        ),
        ({"Roles": '[{"name":"x","access":"owner"}]'}, "Roles[0].access: 'owner' is not one of"),
        ({"Roles": "not json"}, "Roles is not JSON"),
    ],
)
def test_bad_role_properties_fail_before_anything_runs(
    lambda_env: LambdaEnv, tmp_path: Path, change: dict[str, str], expected: str
) -> None:
    props = {**_props(lambda_env, tmp_path, ONLY_RW), **change}

    reason = _fails(create_event(props))

    assert reason.startswith("invalid custom resource properties: ")
    assert expected in reason
    assert state_or_none(lambda_env.db_url) is None


def state_or_none(url: str) -> object:
    rows = query(url, "SELECT to_regclass('schema_migrations')")
    return rows[0][0]


def test_a_rollback_update_never_fails_on_the_roles(
    lambda_env: LambdaEnv, tmp_path: Path, app_roles: RoleSet, rds_iam: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The database is ahead of the bundle: a rollback. Failing it would end in
    UPDATE_ROLLBACK_FAILED, so a refused reconciliation is logged, not raised."""
    old_dir = copy_repo_migrations(tmp_path / "old")
    new_dir = copy_repo_migrations(tmp_path / "new")
    write_migration(new_dir, "000005_orders.up.sql", "CREATE TABLE orders (id int);\n")
    new = properties(lambda_env.endpoint, write_bundle(new_dir, lambda_env.bundle_file))
    deploy(create_event(new), CONTEXT)
    query(lambda_env.db_url, "CREATE ROLE app_ro LOGIN")  # unmarked: refused
    old = properties(
        lambda_env.endpoint, write_bundle(old_dir, lambda_env.bundle_file),
        **role_properties(app_roles),
    )  # fmt: skip
    capsys.readouterr()

    response = deploy(update_event(old, new), CONTEXT)

    assert response["Data"]["Version"] == "5"
    assert response["Data"]["Access"].startswith(
        "not reconciled on this rollback: role app_ro already exists and was not created"
    )
    events = [line for line in log_lines(capsys.readouterr().out) if line.get("event")]
    assert {"event": "access-failed", "level": "WARNING"}.items() <= next(
        e for e in events if e["event"] == "access-failed"
    ).items()


def test_a_lost_connection_during_the_roles_is_one_line(
    fresh_db_url: str, app_roles: RoleSet
) -> None:
    """Not an AccessError (the driver's own): still the runner's one-line reason."""
    from dbmigrate.transports.psycopg_transport import PsycopgTransport  # noqa: PLC0415
    from lambdas.migration_runner import runner  # noqa: PLC0415

    props = runner.parse_properties(
        {
            "ClusterArn": "arn:aws:rds:us-east-1:123456789012:cluster:c1",
            "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf",
            "Database": "app", "TargetVersion": "0", "BundleChecksum": "0" * 64,
            **role_properties(app_roles),
        }
    )  # fmt: skip
    with PsycopgTransport.connect(fresh_db_url) as transport:
        pid = transport.execute("SELECT pg_backend_pid()")[0][0]
        query(fresh_db_url, f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(DeploymentError) as failure:
            runner._reconcile(transport, props, ahead=False)
    reason = str(failure.value)
    assert reason.startswith("application roles not reconciled (the migrations stay applied): ")
    assert "\n" not in reason
