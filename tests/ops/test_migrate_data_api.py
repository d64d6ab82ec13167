"""``python -m ops migrate ... --env ENV``: the engine over the RDS Data API, found from the stack.

Real parts only: the moto server process answers SSM and CloudFormation (the
values DatabaseStack-ENV publishes are put there first), the Data API emulator
process answers ``rds-data`` over HTTP and runs every statement on the test's
fresh PostgreSQL database. boto3 finds them as it would in production, through
``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_RDS_DATA``.
"""

from __future__ import annotations

import getpass
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dbmigrate.hints import DIRTY_CAUSE
from devtools.postgres import Server as PostgresServer
from ops.database import URL_VARIABLES
from tests.fixtures.data_api import DataApiEndpoint
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.postgres import new_database
from tests.migrations._helpers import NO_TX, copy_standard, engine, query, state, tables, write
from tests.ops._helpers import (
    ENV,
    REPO,
    create_resources,
    json_out,
    one_error_line,
    publish_ssm,
    publish_stack,
    published,
    run_in_process,
)


class Cli:
    """``python -m ops migrate`` aimed at moto (discovery) and the emulator (the Data API)."""

    def __init__(
        self,
        moto: MotoServer,
        data_api: DataApiEndpoint,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.moto = moto
        self.data_api = data_api
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        for name in URL_VARIABLES:
            monkeypatch.delenv(name, raising=False)

    def env(self, *, credentials: bool = True) -> dict[str, str]:
        env = self.moto.cli_env(credentials=credentials)
        for name in URL_VARIABLES:
            env.pop(name, None)
        return env | {"AWS_ENDPOINT_URL_RDS_DATA": self.data_api.url}

    def publish(self, *, via: str = "ssm", **changes: str | None) -> dict[str, str]:
        """What DatabaseStack-dev publishes, its database being the emulator's test database."""
        values = published(create_resources(self.moto), backups=False)
        values["database-name"] = self.data_api.database
        for name, value in changes.items():
            if value is None:
                values.pop(name.replace("_", "-"))
            else:
                values[name.replace("_", "-")] = value
        if via == "ssm":
            publish_ssm(self.moto, values)
        else:
            publish_stack(self.moto, values)
        return values

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``ops.cli.main`` in this process (see `run_in_process`)."""
        return run_in_process(
            self.moto,
            self.monkeypatch,
            self.capsys,
            "migrate",
            *args,
            env=env if env is not None else self.env(),
        )

    def subprocess(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m ops migrate ARGS`` as an operator runs it."""
        return subprocess.run(
            [sys.executable, "-m", "ops", "migrate", *args],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def cli(
    moto: MotoServer,
    data_api: DataApiEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    return Cli(moto, data_api, monkeypatch, capsys)


def schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The public schema as the catalogs describe it: columns, indexes, constraints, triggers."""
    return {
        "columns": query(
            url,
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
        ),
        "indexes": query(
            url, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ),
        "constraints": query(
            url,
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        ),
        "triggers": query(
            url,
            "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) "
            "FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
        ),
    }


def without_durations(document: dict[str, Any]) -> dict[str, Any]:
    """A JSON result with each applied file's (timing-dependent) duration blanked."""
    applied = [{**step, "duration_ms": "<ms>"} for step in document.get("applied", [])]
    return {**document, "applied": applied} if "applied" in document else document


def test_up_version_plan_bring_a_fresh_database_to_the_standards_schema(
    cli: Cli, fresh_db_url: str, postgres_server: PostgresServer
) -> None:
    cli.publish()

    up = cli.subprocess("up", "--env", ENV, "--json")

    assert up.returncode == 0, up.stderr
    assert "Traceback" not in up.stderr
    document = json_out(up)
    assert (document["ok"], document["command"], document["end_version"]) == (True, "up", 4)
    assert [a["version"] for a in document["applied"]] == [1, 2, 3, 4]
    assert (
        f"migrate: DatabaseStack-dev (eu-west-1, from SSM /appdata/dev/): database "
        f"{cli.data_api.database} on appdata-dev-cluster, over the RDS Data API" in up.stderr
    )
    # The Data API takes a file at a time, each in one call: announced, then reported.
    first = document["applied"][0]["duration_ms"]
    assert (
        "migrate: applying 000001_create_users_table.up.sql (up, in one call)\n"
        f"migrate: applied 000001_create_users_table.up.sql (up) in {first} ms\n"
        "migrate: applying 000002_add_updated_at_trigger.up.sql (up, in one call)\n"
    ) in up.stderr
    assert state(fresh_db_url) == [(4, False)]
    assert {"users", "posts", "tags", "post_tags"} <= tables(fresh_db_url)
    with new_database(postgres_server) as reference_url:
        with engine(reference_url) as reference:  # the same files, through psycopg
            reference.up()
        assert schema(fresh_db_url) == schema(reference_url)
    applied_by = {
        row[0] for row in query(fresh_db_url, "SELECT applied_by FROM schema_migrations_history")
    }
    assert applied_by == {f"ops-cli:{getpass.getuser()}@{socket.gethostname()} via data-api"}

    version = cli.subprocess("version", "--env", ENV)
    assert (version.returncode, version.stdout) == (0, "4\n")
    plan = cli.run("--env", ENV, "plan", "--json")  # options before the subcommand work too
    assert plan.returncode == 0, plan.stderr
    assert json_out(plan) == {
        "ok": True,
        "command": "plan",
        "current_version": 4,
        "target_version": 4,
        "steps": [],
        "ahead": False,
        "message": "no change: up to date",
    }


def test_json_documents_are_the_psycopg_modes(cli: Cli, fresh_db_url: str) -> None:
    cli.publish()
    over_data_api = cli.run("up", "2", "--env", ENV, "--json")
    assert cli.run("down", "--all", "--database-url", fresh_db_url).returncode == 0
    over_psycopg = cli.run("up", "2", "--database-url", fresh_db_url, "--json")

    assert over_data_api.returncode == over_psycopg.returncode == 0
    assert without_durations(json_out(over_data_api)) == without_durations(json_out(over_psycopg))
    for args in (["version"], ["plan"], ["up"], ["version"], ["plan"]):
        data_api = cli.run(*args, "--env", ENV, "--json")
        psycopg = cli.run(*args, "--database-url", fresh_db_url, "--json")
        if args == ["up"]:  # the second up has nothing left to do: compare it with a no-op
            assert data_api.returncode == 0, data_api.stderr
            assert psycopg.returncode == 0
            assert json_out(psycopg)["applied"] == []
            continue
        assert (data_api.returncode, json_out(data_api)) == (psycopg.returncode, json_out(psycopg))


def test_dirty_database_names_the_env_force_command_and_force_clears_it(
    cli: Cli, fresh_db_url: str, tmp_path: Path
) -> None:
    cli.publish()
    copy_standard(tmp_path, upto=1)
    write(tmp_path, "000002_i.up.sql", f"{NO_TX}CREATE INDEX CONCURRENTLY i ON users (nope);")

    failed = cli.run("up", "--env", ENV, "--dir", str(tmp_path), "--json")

    assert failed.returncode == 3
    assert "`python -m ops migrate force 1 --env dev` to re-run 000002_i.up.sql" in one_error_line(
        failed
    )
    assert json_out(failed)["error_type"] == "DirtyStatementError"
    assert state(fresh_db_url) == [(2, True)]

    version = cli.run("version", "--env", ENV, "--dir", str(tmp_path))
    assert (version.returncode, version.stdout) == (3, "2 (dirty)\n")
    assert one_error_line(version) == (
        "error: database is dirty at version 2 (" + DIRTY_CAUSE + "): "
        "fix the schema by hand, then run `python -m ops migrate force 2 --env dev` (or "
        "`python -m ops migrate force 1 --env dev` to re-run 000002_i.up.sql)"
    )
    # --region (and --profile, --ssm-prefix) given are repeated in the command to run.
    regional = cli.run("up", "--env", ENV, "--region", "eu-west-1", "--dir", str(tmp_path))
    assert regional.returncode == 3
    assert "`python -m ops migrate force 2 --env dev --region eu-west-1`" in one_error_line(
        regional
    )

    forced = cli.run("force", "1", "--env", ENV, "--dir", str(tmp_path))
    assert (forced.returncode, forced.stdout) == (0, "forced version 1\n")
    assert state(fresh_db_url) == [(1, False)]
    write(tmp_path, "000002_i.up.sql", f"{NO_TX}CREATE INDEX CONCURRENTLY i ON users (email);")
    again = cli.run("up", "--env", ENV, "--dir", str(tmp_path))
    assert (again.returncode, again.stdout) == (0, "applied 1 migration(s) up; now at 2\n")


def test_env_and_a_database_url_together_or_neither_are_usage_errors(
    cli: Cli, fresh_db_url: str
) -> None:
    both = cli.run("version", "--env", ENV, "--database-url", fresh_db_url, "--json")
    assert both.returncode == 2
    assert one_error_line(both) == (
        "error: --env and --database-url both name a database: use one of them"
    )
    assert json_out(both)["exit_code"] == 2
    cli.monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    from_environment = cli.run("version", "--env", ENV)
    assert from_environment.returncode == 2
    assert one_error_line(from_environment) == (
        "error: --env and DATABASE_URL (unset it) both name a database: use one of them"
    )
    cli.monkeypatch.delenv("DATABASE_URL")
    neither = cli.run("up")
    assert neither.returncode == 2
    assert one_error_line(neither) == (
        "error: no database: pass --database-url (or set MIGRATIONS_DATABASE_URL or "
        "DATABASE_URL), or --env ENV for a deployed environment over the RDS Data API"
    )
    region_alone = cli.run("version", "--region", "eu-west-1", "--database-url", fresh_db_url)
    assert region_alone.returncode == 2
    assert one_error_line(region_alone) == "error: --region applies only with --env"
    too_long = cli.run("up", "--env", ENV, "--lock-wait", "41")
    assert too_long.returncode == 2
    assert one_error_line(too_long) == (
        "error: --lock-wait 41: with --env the wait is one Data API call, which ends at 45 s: "
        "use at most 40"
    )
    assert tables(fresh_db_url) == set()  # nothing ran


def test_stack_not_deployed_is_one_line_and_exit_6(cli: Cli, fresh_db_url: str) -> None:
    result = cli.run("version", "--env", ENV, "--json")

    message = (
        "stack DatabaseStack-dev is not deployed in eu-west-1 (and no SSM parameters under "
        "/appdata/dev/): check --region / AWS_REGION and --env"
    )
    assert result.returncode == 6
    assert one_error_line(result) == f"error: {message}"
    assert json_out(result) == {
        "ok": False,
        "command": "version",
        "error": message,
        "error_type": "OpsError",
        "exit_code": 6,
    }
    elsewhere = cli.run("up", "--env", ENV, "--region", "us-east-1")
    assert elsewhere.returncode == 6
    assert one_error_line(elsewhere).endswith("(cdk.json deploys dev to eu-west-1)")
    assert tables(fresh_db_url) == set()


def test_stack_outputs_are_the_fallback_and_a_missing_one_is_named(cli: Cli) -> None:
    cli.publish(via="stack")
    found = cli.run("version", "--env", ENV)
    assert (found.returncode, found.stdout) == (0, "none\n")
    assert "from stack DatabaseStack-dev" in found.stderr

    cli.moto.reset()
    cli.publish(via="stack", database_name=None)  # a stack deployed before it published it
    missing = cli.run("version", "--env", ENV)
    assert missing.returncode == 6
    assert one_error_line(missing) == (
        "error: stack DatabaseStack-dev lacks database-name: "
        "is DatabaseStack-dev fully deployed in eu-west-1?"
    )


def test_credentials_and_access_errors_map_to_exit_5(cli: Cli) -> None:
    cli.publish()
    keyless = {k: v for k, v in cli.env().items() if not k.startswith("AWS_SECRET")}
    for env in (cli.env(credentials=False), keyless):
        no_credentials = cli.run("version", "--env", ENV, env=env)
        assert no_credentials.returncode == 5
        assert one_error_line(no_credentials) == (
            "error: no AWS credentials: set AWS_PROFILE or run `aws configure` / `aws sso login`"
        )

    cli.data_api.inject_faults({"AccessDeniedException": 1})
    denied = cli.run("version", "--env", ENV, "--json")
    assert denied.returncode == 5
    assert one_error_line(denied) == (
        "error: access denied: missing permission rds-data:ExecuteStatement"
    )
    assert json_out(denied)["exit_code"] == 5


def test_an_unknown_cluster_is_not_found(cli: Cli) -> None:
    cli.publish()
    cli.data_api.inject_faults({"NotFoundException": 1})
    result = cli.run("plan", "--env", ENV)
    assert result.returncode == 6
    assert one_error_line(result).startswith(
        "error: the Data API does not find cluster arn:aws:rds:eu-west-1:"
    )
