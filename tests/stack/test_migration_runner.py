"""The migration runner in the template: wired to the cluster, least privilege, checked at synth."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from app import MIGRATIONS, build_app
from dbmigrate.bundle import Bundle
from dbmigrate.compile import compile_directory
from dbmigrate.errors import MigrationError
from tests.fixtures.synth import ENVIRONMENTS, ROOT, Synthesized, cdk_json_context

RESOURCE = "Custom::SchemaMigrations"
CLUSTER = "AuroraClusterCDFC8250"


def runner_function(synthesized: Synthesized, env: str) -> tuple[str, dict[str, Any]]:
    functions = synthesized.resources(env, "AWS::Lambda::Function")
    (found,) = [
        (k, v) for k, v in functions.items()
        if v["Properties"].get("Handler") == "migration_runner.handler.main"
    ]  # fmt: skip
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_resource_carries_target_version_and_checksum(synthesized: Synthesized, env: str) -> None:
    bundle = compile_directory(MIGRATIONS)
    _, resource = synthesized.only(env, RESOURCE)
    props = resource["Properties"]
    assert props["TargetVersion"] == str(bundle.target_version)
    assert props["BundleChecksum"] == bundle.bundle_checksum
    assert props["Database"] == "app"
    assert props["Environment"] == env  # named in the failure's `ops migrate force --env` hint
    assert props["ClusterArn"] == {
        "Fn::Join": [
            "",
            ["arn:aws:rds:eu-west-1:", {"Ref": "AWS::AccountId"}, ":cluster:", {"Ref": CLUSTER}],
        ]
    }
    assert props["SecretArn"] == {"Ref": "AuroraClusterSecret8E4F2BC8"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_runs_after_the_cluster_and_its_writer(synthesized: Synthesized, env: str) -> None:
    _, resource = synthesized.only(env, RESOURCE)
    assert {CLUSTER, "AuroraClusterWriter38835843"} <= set(resource["DependsOn"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_function_is_latest_python_arm64_outside_the_vpc(
    synthesized: Synthesized, env: str
) -> None:
    _, function = runner_function(synthesized, env)
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert "VpcConfig" not in props
    assert props["Timeout"] == 840
    assert "LoggingConfig" in props


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_function_may_use_only_this_cluster_and_secret(synthesized: Synthesized, env: str) -> None:
    _, function = runner_function(synthesized, env)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.resources(env, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    statements = [s for group in policies for s in group]
    by_action = {json.dumps(sorted(_list(s["Action"]))): s["Resource"] for s in statements}
    assert all(s["Effect"] == "Allow" for s in statements)
    assert "*" not in json.dumps([s["Resource"] for s in statements]).replace(":*", "")
    data_api = [r for a, r in by_action.items() if "rds-data:ExecuteStatement" in a]
    assert data_api and CLUSTER in json.dumps(data_api)
    secret = [r for a, r in by_action.items() if "secretsmanager:GetSecretValue" in a]
    assert secret == [{"Ref": "AuroraClusterSecret8E4F2BC8"}]
    key = synthesized.resources(env, "AWS::KMS::Key")["AuroraClusterKeyA2C8F84D"]
    (decrypt,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"].get("AWS") == {"Fn::GetAtt": [role, "Arn"]}
    ]  # fmt: skip
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"].startswith("secretsmanager.")


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_asset_carries_runner_engine_and_bundle_but_no_parser(synthesized: Synthesized) -> None:
    _, function = runner_function(synthesized, "dev")
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset = synthesized.outdir / f"asset.{asset_hash}"
    assert (asset / "migration_runner" / "handler.py").is_file()
    assert (asset / "dbmigrate" / "engine.py").is_file()
    assert (asset / "dbmigrate" / "transports" / "data_api.py").is_file()
    assert not (asset / "dbmigrate" / "compile.py").exists()
    bundled = Bundle.from_json((asset / "migration_runner" / "bundle.json").read_bytes())
    assert bundled.bundle_checksum == compile_directory(MIGRATIONS).bundle_checksum


def test_a_new_migration_changes_the_resource(tmp_path: Path) -> None:
    """So that `cdk diff` shows it and CloudFormation sends an Update."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    (migrations / "000005_add_orders.up.sql").write_text("CREATE TABLE orders (id int);\n")
    (migrations / "000005_add_orders.down.sql").write_text("DROP TABLE orders;\n")
    context = {**cdk_json_context(), "env": "dev"}
    app = cdk.App(context=context, outdir=str(tmp_path / "out"))
    build_app(app, migrations_dir=migrations)
    template = app.synth().get_stack_by_name("DatabaseStack-dev").template
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == RESOURCE]
    assert resource["Properties"]["TargetVersion"] == "5"
    assert resource["Properties"]["BundleChecksum"] == compile_directory(migrations).bundle_checksum
    assert resource["Properties"]["BundleChecksum"] != compile_directory(MIGRATIONS).bundle_checksum


BAD_MIGRATIONS = {
    "bad name": ({"0001-create.up.sql": "SELECT 1;"}, "0001-create.up.sql"),
    "duplicate version": (
        {"000001_a.up.sql": "SELECT 1;", "000001_b.up.sql": "SELECT 1;"},
        "000001_b.up.sql",
    ),
    "syntax error": (
        {"000001_a.up.sql": "CREATE TABLE t (id int);\nCREAT INDEX i ON t (id);\n"},
        "000001_a.up.sql",
    ),
    "mixed file": (
        {"000001_a.up.sql": "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY i ON t (id);\n"},
        "000001_a.up.sql",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MIGRATIONS))
def test_bad_migrations_fail_synth_naming_the_file(tmp_path: Path, case: str) -> None:
    files, named = BAD_MIGRATIONS[case]
    for name, sql in files.items():
        (tmp_path / name).write_text(sql)
    with pytest.raises(MigrationError) as caught:
        build_app(cdk.App(context=cdk_json_context()), migrations_dir=tmp_path)
    assert named in str(caught.value)


def test_syntax_error_reports_the_line_through_app_py(tmp_path: Path) -> None:
    """Through the real entry point: one line, exit code 2, no traceback."""
    script = (
        "import sys, app; from pathlib import Path; "
        f"app.MIGRATIONS = Path({str(tmp_path)!r}); sys.exit(app.main())"
    )
    (tmp_path / "000001_a.up.sql").write_text("CREATE TABLE t (id int);\n\nSELEC 1;\n")
    context = json.dumps(cdk_json_context())
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "CDK_CONTEXT_JSON": context}, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: invalid migrations: ")
    assert "000001_a.up.sql" in last and "line 3" in last
    assert "Traceback" not in result.stderr


def _provider_function(synthesized: Synthesized, env: str, name: str) -> dict[str, Any]:
    (found,) = [
        v for k, v in synthesized.resources(env, "AWS::Lambda::Function").items()
        if k.startswith(f"MigrationRunnerProviderframework{name}")
    ]  # fmt: skip
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_provider_calls_the_runner_for_on_event_and_is_complete(
    synthesized: Synthesized, env: str
) -> None:
    runner_id, _ = runner_function(synthesized, env)
    variables = _provider_function(synthesized, env, "onEvent")["Properties"]["Environment"][
        "Variables"
    ]
    runner_arn = {"Fn::GetAtt": [runner_id, "Arn"]}
    assert variables["USER_ON_EVENT_FUNCTION_ARN"] == runner_arn
    assert variables["USER_IS_COMPLETE_FUNCTION_ARN"] == runner_arn
    (machine_id,) = synthesized.resources(env, "AWS::StepFunctions::StateMachine")
    assert variables["WAITER_STATE_MACHINE_ARN"] == {"Ref": machine_id}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_waiter_retries_every_interval_up_to_the_total_timeout_and_logs_all(
    synthesized: Synthesized, env: str
) -> None:
    """Defaults (config.model.MigrationsConfig): every 30 s for 60 minutes, the runner's own
    properties saying the same, and CloudFormation's wait at its one-hour maximum."""
    (machine,) = synthesized.resources(env, "AWS::StepFunctions::StateMachine").values()
    definition = json.loads(_join_literal(machine["Properties"]["DefinitionString"]))
    (retry,) = definition["States"]["framework-isComplete-task"]["Retry"]
    assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (30, 120, 1)
    logging = machine["Properties"]["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", False)
    (group,) = logging["Destinations"]
    group_id = group["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert group_id.startswith("MigrationRunnerWaiterLogs")
    assert (
        synthesized.resources(env, "AWS::Logs::LogGroup")[group_id]["Properties"]["RetentionInDays"]
        == {"dev": 14, "prod": 365}[env]
    )
    _, resource = synthesized.only(env, RESOURCE)
    props = resource["Properties"]
    assert props["ServiceTimeout"] == "3600"
    assert (props["TotalTimeoutSeconds"], props["QueryIntervalSeconds"]) == ("3600", "30")
    assert props["InvocationBudgetSeconds"] == "600"


def _join_literal(value: Any) -> str:
    """A ``Fn::Join`` of strings and references, references shown as ``<ref>``."""
    if isinstance(value, str):
        return value
    parts = value["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else '"<ref>"' for p in parts).replace(
        '""<ref>""', '"<ref>"'
    )
