"""The deployed baseline: CloudFormation GetTemplate, against moto's server over HTTP.

moto 5.2.5 cannot create the whole prod template (its parser answers HTTP 500 on
the KMS keys, subnets, security groups, SSM parameters and dashboards), so the
stack deployed here holds the template's resources moto can create, unchanged:
the table, the cluster, its secret and parameter group, the vault, the backup
plans and selections, and the alarms (not the log groups: they name the log key,
and moto refuses a GetAtt of a resource it does not hold). The guard compares the
full synthesized template with that; what moto could not hold shows as added.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ops import exit_codes
from tests.fixtures.moto_server import MotoServer
from tests.guard.conftest import STACK, Variants
from tests.guard.test_matrix import GLOBAL_TABLE, TABLE
from tests.ops._helpers import one_error_line, run_in_process

MOTO_HOLDS = frozenset(
    {
        "AWS::DynamoDB::GlobalTable",
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBClusterParameterGroup",
        "AWS::SecretsManager::Secret",
        "AWS::Backup::BackupVault",
        "AWS::Backup::BackupPlan",
        "AWS::Backup::BackupSelection",
        "AWS::CloudWatch::Alarm",
    }
)


def deploy(moto: MotoServer, template: dict[str, Any]) -> dict[str, Any]:
    held = {
        logical_id: body
        for logical_id, body in template["Resources"].items()
        if body["Type"] in MOTO_HOLDS
    }
    deployed = {"Resources": held}
    cloudformation = moto.client("cloudformation")
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(deployed))
    status = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE", status
    return deployed


def test_the_deployed_stack_is_the_baseline(
    moto: MotoServer,
    variants: Variants,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed = deploy(moto, variants.template("committed"))
    assert TABLE in deployed["Resources"]
    args = ("guard", "--env", "prod")
    same = run_in_process(
        moto, monkeypatch, capsys, *args, "--cdk-out", str(variants.assembly("committed"))
    )
    assert same.returncode == exit_codes.OK, same.stdout + same.stderr
    assert "against deployed stack DatabaseStack-prod in eu-west-1" in same.stdout
    renamed = run_in_process(
        moto, monkeypatch, capsys, *args, "--cdk-out", str(variants.assembly("table-name"))
    )
    assert renamed.returncode == exit_codes.BLOCKED
    assert f"block: {TABLE} {GLOBAL_TABLE} TableName [replaced]: " in renamed.stdout


def test_a_stack_not_deployed(
    moto: MotoServer,
    variants: Variants,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("guard", "--env", "prod", "--cdk-out", str(variants.assembly("committed")))
    missing = run_in_process(moto, monkeypatch, capsys, *args)
    assert missing.returncode == exit_codes.NOT_FOUND
    assert one_error_line(missing) == (
        "error: stack DatabaseStack-prod is not deployed in eu-west-1: nothing to compare "
        "with; check --region, pass --baseline FILE, or --new-stack-ok for a first deploy"
    )
    first = run_in_process(moto, monkeypatch, capsys, *args, "--new-stack-ok")
    assert first.returncode == exit_codes.OK
    assert first.stdout.strip() == (
        "DatabaseStack-prod is not deployed in eu-west-1: a first deploy, nothing to guard"
    )


def test_the_stack_is_read_in_cdk_json_s_region_not_the_shell_s(
    moto: MotoServer,
    variants: Variants,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cdk deploy` deploys to the stack's region (cdk.json's): a shell set to another region
    must not make the guard find "no stack" there and wave a first deploy through."""
    deploy(moto, variants.template("committed"))
    args = ("guard", "--env", "prod", "--cdk-out", str(variants.assembly("table-name")))
    elsewhere = {**moto.cli_env(), "AWS_DEFAULT_REGION": "us-east-1"}
    run = run_in_process(moto, monkeypatch, capsys, *args, "--new-stack-ok", env=elsewhere)
    assert run.returncode == exit_codes.BLOCKED, run.stdout + run.stderr
    assert f"block: {TABLE} {GLOBAL_TABLE} TableName [replaced]: " in run.stdout
    other = run_in_process(moto, monkeypatch, capsys, *args, "--region", "us-east-1")
    assert other.returncode == exit_codes.USAGE
    assert one_error_line(other) == (
        "error: --region us-east-1: cdk.json deploys prod to eu-west-1, "
        "and the guard must read the stack where `cdk deploy` writes it"
    )
