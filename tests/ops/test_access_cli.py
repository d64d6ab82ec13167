"""``python -m ops access plan|apply`` as operators and scripts run it.

``--database-url``: a real PostgreSQL through psycopg. ``--env``: the moto
server answers discovery (SSM) and the Data API emulator answers ``rds-data``,
both over HTTP, as in the migrate ``--env`` tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbaccess.roles import RoleSet
from ops.database import URL_VARIABLES
from tests.access._helpers import INSUFFICIENT_PRIVILEGE, catalog_snapshot, migrate, refused
from tests.fixtures.data_api import DataApiEndpoint
from tests.fixtures.moto_server import MotoServer
from tests.migrations._helpers import query
from tests.ops._helpers import (
    ENV,
    REPO,
    create_resources,
    json_out,
    one_error_line,
    publish_ssm,
    published,
    run_in_process,
)


class AccessCli:
    def __init__(
        self,
        moto: MotoServer,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.moto = moto
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        for name in URL_VARIABLES:
            monkeypatch.delenv(name, raising=False)

    def run(
        self, *args: str, data_api: DataApiEndpoint | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = self.moto.cli_env()
        if data_api is not None:
            env["AWS_ENDPOINT_URL_RDS_DATA"] = data_api.url
        return run_in_process(self.moto, self.monkeypatch, self.capsys, "access", *args, env=env)

    def deploy(self, data_api: DataApiEndpoint) -> None:
        """DatabaseStack-dev's published values, its database the emulator's test database."""
        values = published(create_resources(self.moto), backups=False)
        values["database-name"] = data_api.database
        publish_ssm(self.moto, values)


@pytest.fixture
def cli(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AccessCli:
    return AccessCli(moto, monkeypatch, capsys)


def test_plan_then_apply_then_nothing_to_do(
    cli: AccessCli, fresh_db_url: str, app_roles: RoleSet
) -> None:
    migrate(fresh_db_url)

    planned = cli.run("plan", "--database-url", fresh_db_url)
    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    assert lines[0] == "app_rw (read-write): create"
    assert "  create role app_rw (LOGIN, no password)" in lines
    assert "app_ro (read-only): create" in lines
    assert lines[-1].startswith("16 change(s) to apply (database t_")
    assert "note: rds_iam does not exist on this server (it is not RDS)" in planned.stderr
    assert catalog_snapshot(fresh_db_url, app_roles.names) == []  # plan changed nothing

    applied = cli.run("apply", "--database-url", fresh_db_url)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[:2] == [
        "app_rw (read-write): created",
        "app_ro (read-only): created",
    ]
    assert "access: app_rw: created (10 change(s))" in applied.stderr
    assert refused(fresh_db_url, "app_rw", "DELETE FROM users") is None
    assert refused(fresh_db_url, "app_rw", "DROP TABLE users") == INSUFFICIENT_PRIVILEGE

    again = cli.run("apply", "--database-url", fresh_db_url, "--json")
    assert again.returncode == 0
    document = json_out(again)
    assert (document["ok"], document["command"], document["changes"]) == (True, "apply", 0)
    assert [(r["name"], r["status"]) for r in document["roles"]] == [
        ("app_rw", "unchanged"),
        ("app_ro", "unchanged"),
    ]
    assert (document["config_env"], document["iam"], document["migrating_user"]) == (
        "dev",
        False,
        "postgres",
    )


def test_the_owner_url_comes_from_migrations_database_url(
    cli: AccessCli, fresh_db_url: str, app_roles: RoleSet
) -> None:
    """As `make local` writes .env: DATABASE_URL is app_rw, MIGRATIONS_DATABASE_URL the owner."""
    migrate(fresh_db_url)
    cli.monkeypatch.setenv("DATABASE_URL", "postgresql://app_rw@127.0.0.1:1/nowhere")
    cli.monkeypatch.setenv("MIGRATIONS_DATABASE_URL", fresh_db_url)
    assert cli.run("apply").returncode == 0
    assert [row[0] for row in catalog_snapshot(fresh_db_url, app_roles.names)] == [
        "app_ro",
        "app_rw",
    ]


def test_an_unmarked_role_is_one_line_exit_1_and_nothing_applied(
    cli: AccessCli, fresh_db_url: str, app_roles: RoleSet
) -> None:
    migrate(fresh_db_url)
    query(fresh_db_url, "CREATE ROLE app_rw LOGIN")
    result = cli.run("apply", "--database-url", fresh_db_url, "--json")
    assert result.returncode == 1
    assert one_error_line(result).startswith(
        "error: role app_rw already exists and was not created"
    )
    document = json_out(result)
    assert (document["ok"], document["error_type"], document["exit_code"]) == (
        False,
        "RoleConflictError",
        1,
    )
    assert [row[0] for row in catalog_snapshot(fresh_db_url, app_roles.names)] == ["app_rw"]


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        (
            {"roles": [{"name": "rds_app", "access": "read-only"}]},
            "environments.dev.access.roles[0].name: 'rds_app' is reserved",
        ),
        (
            {"roles": [{"name": "app", "access": "admin"}]},
            "environments.dev.access.roles[0].access: 'admin' is not one of read-write, read-only",
        ),
        (
            {"roles": [{"name": "a", "access": "read-only"}, {"name": "a", "access": "read-only"}]},
            "environments.dev.access.roles[1].name: 'a' is a duplicate of environments.dev.access.roles[0]",
        ),
        (
            {"roles": [{"name": "App", "access": "read-only"}]},
            "environments.dev.access.roles[0].name: 'App' is not a lowercase PostgreSQL identifier",
        ),
    ],
)
def test_bad_configuration_is_one_line_exit_2(
    cli: AccessCli, tmp_path: Path, access: dict[str, object], expected: str, fresh_db_url: str
) -> None:
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    cdk_json["context"]["environments"]["dev"]["access"] = access
    (tmp_path / "cdk.json").write_text(json.dumps(cdk_json))
    cli.monkeypatch.setattr("ops.access.run.CDK_JSON", tmp_path / "cdk.json")
    result = cli.run("plan", "--database-url", fresh_db_url)
    assert result.returncode == 2
    assert one_error_line(result).startswith(f"error: invalid configuration: {expected}")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("plan", "--config-env", "staging", "--database-url", "postgresql://x@127.0.0.1:1/x"),
            "error: invalid configuration: env: unknown environment 'staging'; allowed: dev, prod",
        ),
        (
            ("plan", "--env", "dev", "--database-url", "postgresql://x@127.0.0.1:1/x"),
            "error: --env and --database-url both name a database: use one of them",
        ),
        (
            ("plan", "--env", "dev", "--config-env", "prod"),
            "error: --config-env applies only with --database-url",
        ),
        (
            ("plan",),
            "error: no database: pass --database-url (or set MIGRATIONS_DATABASE_URL or DATABASE_URL), or --env ENV for a deployed environment over the RDS Data API",
        ),
        (
            ("plan", "--database-url", "postgresql://nobody@127.0.0.1:1/x"),
            "error: cannot connect to postgresql://nobody@127.0.0.1:1/x",
        ),
    ],
)
def test_usage_and_connection_errors(cli: AccessCli, args: tuple[str, ...], expected: str) -> None:
    result = cli.run(*args)
    assert result.returncode == (1 if "cannot connect" in expected else 2)
    assert one_error_line(result).startswith(expected)


def test_env_applies_over_the_data_api_with_iam(
    cli: AccessCli, data_api: DataApiEndpoint, fresh_db_url: str, app_roles: RoleSet, rds_iam: str
) -> None:
    migrate(fresh_db_url)
    cli.deploy(data_api)

    result = cli.run("apply", "--env", ENV, "--json", data_api=data_api)

    assert result.returncode == 0, result.stderr
    assert "access: DatabaseStack-dev (eu-west-1, from SSM /appdata/dev/)" in result.stderr
    document = json_out(result)
    assert document["iam"] is True
    assert [(r["name"], r["status"]) for r in document["roles"]] == [
        ("app_rw", "create"),
        ("app_ro", "create"),
    ]
    members = query(
        fresh_db_url, "SELECT count(*) FROM pg_auth_members WHERE roleid = 'rds_iam'::regrole"
    )
    assert members == [(2,)]


def test_env_refuses_a_cluster_without_rds_iam(
    cli: AccessCli, data_api: DataApiEndpoint, fresh_db_url: str, app_roles: RoleSet
) -> None:
    migrate(fresh_db_url)
    cli.deploy(data_api)
    result = cli.run("apply", "--env", ENV, data_api=data_api)
    assert result.returncode == 1
    assert one_error_line(result).startswith("error: role rds_iam does not exist on this server")
    assert catalog_snapshot(fresh_db_url, app_roles.names) == []


def test_env_without_a_deployed_stack_is_exit_6(cli: AccessCli) -> None:
    result = cli.run("plan", "--env", ENV)
    assert result.returncode == 6
    assert "DatabaseStack-dev is not deployed in eu-west-1" in one_error_line(result)


def test_as_a_process(fresh_db_url: str, app_roles: RoleSet) -> None:
    migrate(fresh_db_url)
    env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
    result = subprocess.run(
        [sys.executable, "-m", "ops", "access", "apply", "--database-url", fresh_db_url],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("applied 16 change(s)")


def test_reading_the_roles_does_not_start_jsii() -> None:
    """`config.load_access` must stay free of aws-cdk-lib: ops access would pay seconds for it."""
    probe = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from config import load_access\n"
        "load_access(Path('cdk.json'), 'prod')\n"
        "print(json.dumps(sorted(m for m in ('aws_cdk', 'jsii') if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
