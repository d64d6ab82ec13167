"""A deployed environment inside moto, and ``python -m ops`` run as scripts run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops.cli import main
from ops.command import Connect
from tests.fixtures.moto_server import REGION, MotoServer

REPO = Path(__file__).resolve().parents[2]
ENV = "dev"
TABLE = "app-data-dev"
CLUSTER = "appdata-dev-cluster"
VAULT = "appdata-dev-vault"
ROLE_ARN = "arn:aws:iam::123456789012:role/appdata-dev-backup"
PLAN_ID = "11111111-2222-3333-4444-555555555555"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:appdata-dev-backup-events"


@dataclass(frozen=True)
class Deployed:
    table_name: str
    table_arn: str
    cluster_id: str
    cluster_arn: str


def create_resources(moto: MotoServer) -> Deployed:
    """The AppData table (PK/SK) and an aurora-postgresql cluster, as the stack creates them."""
    dynamodb = moto.client("dynamodb")
    table = dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}})
    cluster = moto.client("rds").create_db_cluster(
        DBClusterIdentifier=CLUSTER,
        Engine="aurora-postgresql",
        MasterUsername="appdata",
        MasterUserPassword="not-a-real-password",
        ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 2},
    )["DBCluster"]
    return Deployed(TABLE, table["TableArn"], CLUSTER, cluster["DBClusterArn"])


def published(resources: Deployed, *, backups: bool) -> dict[str, str]:
    """SSM parameter name (under the prefix) -> value, as DatabaseStack publishes them."""
    values = {
        "table-name": resources.table_name,
        "table-arn": resources.table_arn,
        "cluster-arn": resources.cluster_arn,
        "cluster-id": resources.cluster_id,
        "cluster-endpoint": f"{resources.cluster_id}.cluster-x.{REGION}.rds.amazonaws.com",
        "secret-arn": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:db-AbCdEf",
        "database-name": "app",
    }
    if backups:
        values |= {
            "backup-vault-name": VAULT,
            "backup-role-arn": ROLE_ARN,
            "backup-plan-id": PLAN_ID,
            "backup-topic-arn": TOPIC_ARN,
        }
    return values


def publish_ssm(moto: MotoServer, values: dict[str, str], prefix: str = f"/appdata/{ENV}") -> None:
    ssm = moto.client("ssm")
    for name, value in values.items():
        ssm.put_parameter(Name=f"{prefix}/{name}", Value=value, Type="String")


OUTPUT_KEYS = {
    "table-name": "TableName",
    "table-arn": "TableArn",
    "cluster-arn": "ClusterArn",
    "cluster-id": "ClusterIdentifier",
    "cluster-endpoint": "ClusterEndpoint",
    "secret-arn": "SecretArn",
    "database-name": "DatabaseName",
    "backup-vault-name": "BackupVaultName",
    "backup-role-arn": "BackupRoleArn",
    "backup-plan-id": "BackupPlanId",
    "backup-topic-arn": "BackupTopicArn",
    "alarm-name-prefix": "AlarmNamePrefix",
}


def publish_stack(moto: MotoServer, values: dict[str, str], env: str = ENV) -> None:
    """DatabaseStack-ENV in moto's CloudFormation, with the values as its outputs."""
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue", "Properties": {}}},
        "Outputs": {OUTPUT_KEYS[name]: {"Value": value} for name, value in values.items()},
    }
    moto.client("cloudformation").create_stack(
        StackName=f"DatabaseStack-{env}", TemplateBody=json.dumps(template)
    )


def deploy(moto: MotoServer, *, via: str = "ssm", backups: bool = False) -> Deployed:
    resources = create_resources(moto)
    values = published(resources, backups=backups)
    if via == "ssm":
        publish_ssm(moto, values)
    else:
        publish_stack(moto, values)
    return resources


def ops(
    moto: MotoServer, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m ops ARGS`` in a subprocess aimed at the moto server."""
    return subprocess.run(
        [sys.executable, "-m", "ops", *args],
        cwd=REPO,
        env=env if env is not None else moto.cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def json_out(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one JSON document on stdout."""
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def one_error_line(result: subprocess.CompletedProcess[str] | str) -> str:
    stderr = result if isinstance(result, str) else result.stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def run_in_process(
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    env: dict[str, str] | None = None,
    connect: Connect | None = None,
) -> subprocess.CompletedProcess[str]:
    """``ops.cli.main(args)`` in this process with the subprocess environment; same result type.

    A subprocess costs ~0.6 s of imports; the error-path tests run here instead,
    still against the moto server over HTTP.
    """
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in (env if env is not None else moto.cli_env()).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    capsys.readouterr()
    try:
        code = main(list(args), connect=connect)
    except SystemExit as exc:  # argparse: --help, usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)
