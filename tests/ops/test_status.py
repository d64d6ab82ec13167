"""``python -m ops status --env ENV`` as a cron job or a deploy gate runs it: a subprocess.

Real parts: the moto server process answers CloudFormation, SSM, CloudWatch
(alarms put into ALARM with SetAlarmState, a capacity datapoint), DynamoDB and
RDS; the Data API emulator answers ``rds-data`` on the test's PostgreSQL
database (the schema version); the AWS Backup emulator answers the recovery
point and job listings moto does not implement. boto3 finds them through
``AWS_ENDPOINT_URL`` and the per-service ``AWS_ENDPOINT_URL_RDS_DATA`` and
``AWS_ENDPOINT_URL_BACKUP``, as it would find the real services.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ops.database import URL_VARIABLES
from tests.access._helpers import migrate
from tests.fixtures.backup_api import BackupApi
from tests.fixtures.data_api import DataApiEndpoint
from tests.fixtures.moto_server import REGION, MotoServer
from tests.migrations._helpers import query
from tests.ops._helpers import (
    ENV,
    REPO,
    VAULT,
    create_resources,
    one_error_line,
    publish_ssm,
    publish_stack,
    published,
)

PREFIX = "appdata-dev"
ALARMS = ("Aurora-CPU-Usage-Critical", "AppData-Read-Throttled-Events-Critical")


@dataclass
class Environment:
    moto: MotoServer
    data_api: DataApiEndpoint
    backup_api: BackupApi
    values: dict[str, str]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **{k: v for k, v in self.moto.cli_env().items() if k not in URL_VARIABLES},
            "AWS_ENDPOINT_URL_RDS_DATA": self.data_api.url,
            "AWS_ENDPOINT_URL_BACKUP": self.backup_api.url,
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "ops", "status", "--env", ENV, *args],
            cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def backups(self, *, age_hours: float, running: bool = False) -> None:
        created = (datetime.now(UTC) - timedelta(hours=age_hours)).timestamp()
        points = [
            {
                "RecoveryPointArn": f"arn:aws:backup:{REGION}:123456789012:recovery-point:{n}",
                "BackupVaultName": VAULT,
                "ResourceArn": arn,
                "CreationDate": created,
                "Status": "COMPLETED",
            }
            for n, arn in enumerate((self.values["table-arn"], self.values["cluster-arn"]))
        ]
        jobs = [
            {
                "BackupJobId": "job-1",
                "BackupVaultName": VAULT,
                "ResourceArn": self.values["cluster-arn"],
                "State": "RUNNING",
                "PercentDone": "42",
            }
        ] if running else []  # fmt: skip
        self.backup_api.seed(vaults=[VAULT], recovery_points=points, backup_jobs=jobs)


@pytest.fixture
def deployed(
    moto: MotoServer, data_api: DataApiEndpoint, backup_api: BackupApi, fresh_db_url: str
) -> Environment:
    """DatabaseStack-dev as the stack leaves it: resources, published values, alarms, backups."""
    resources = create_resources(moto)
    rds = moto.client("rds")
    for name in ("writer", "reader"):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{resources.cluster_id}-{name}", DBInstanceClass="db.serverless",
            Engine="aurora-postgresql", DBClusterIdentifier=resources.cluster_id,
        )  # fmt: skip
    moto.client("dynamodb").update_continuous_backups(
        TableName=resources.table_name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    values = published(resources, backups=True) | {
        "database-name": data_api.database,
        "alarm-name-prefix": PREFIX,
    }
    publish_ssm(moto, values)
    publish_stack(moto, values)
    cloudwatch = moto.client("cloudwatch")
    for name in (*ALARMS, "Other-Alarm"):
        full = name if name == "Other-Alarm" else f"{PREFIX}-{name}"
        cloudwatch.put_metric_alarm(
            AlarmName=full, MetricName="CPUUtilization", Namespace="AWS/RDS", Statistic="Average",
            Period=300, EvaluationPeriods=3, Threshold=90, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName="Other-Alarm", StateValue="ALARM", StateReason="not ours")
    cloudwatch.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[{
            "MetricName": "ServerlessDatabaseCapacity", "Value": 1.5,
            "Dimensions": [{"Name": "DBClusterIdentifier", "Value": resources.cluster_id}],
        }],
    )  # fmt: skip
    for name in ALARMS:  # moto evaluates alarms on its own; start from OK, as a quiet stack is
        cloudwatch.set_alarm_state(AlarmName=f"{PREFIX}-{name}", StateValue="OK", StateReason="ok")
    migrate(fresh_db_url)
    environment = Environment(moto, data_api, backup_api, values)
    environment.backups(age_hours=2)
    return environment


def document(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in result.stderr, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_a_healthy_environment_is_exit_0_with_every_part(deployed: Environment) -> None:
    deployed.backups(age_hours=2, running=True)

    result = deployed.run("--json")

    assert result.returncode == 0, result.stderr + result.stdout
    found = document(result)
    assert (found["ok"], found["healthy"], found["findings"]) == (True, True, [])
    assert found["stack"]["status"] == "CREATE_COMPLETE"
    assert found["alarms"] == []  # "Other-Alarm" is in ALARM, but not this stack's
    assert (found["table"]["status"], found["table"]["pitr"]) == ("ACTIVE", "ENABLED")
    assert found["table"]["earliest_restorable"].endswith("UTC")
    cluster = found["cluster"]
    assert (cluster["status"], cluster["min_capacity"], cluster["max_capacity"]) == (
        "available", 0.5, 2.0,
    )  # fmt: skip
    assert cluster["current_capacity"] == 1.5
    assert [(i["role"], i["status"]) for i in cluster["instances"]] == [
        ("writer", "available"),
        ("reader", "available"),
    ]
    assert found["schema"] == {"version": 4, "dirty": False}
    ages = {r: v["age_hours"] for r, v in found["backups"]["resources"].items()}
    assert all(1.9 < age < 2.1 for age in ages.values()), ages
    assert [job["id"] for job in found["backups"]["running"]] == ["job-1"]

    text = deployed.run()
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0] == "DatabaseStack-dev in eu-west-1 (from SSM /appdata/dev/): HEALTHY"
    assert "schema   version 4, clean" in lines
    assert f"alarms   none in ALARM (prefix {PREFIX})" in lines


def test_an_alarm_in_alarm_is_exit_7_naming_it(deployed: Environment) -> None:
    deployed.moto.client("cloudwatch").set_alarm_state(
        AlarmName=f"{PREFIX}-{ALARMS[0]}",
        StateValue="ALARM",
        StateReason="Threshold Crossed: 3 of 3",
    )

    result = deployed.run("--json")

    assert result.returncode == 7
    found = document(result)
    assert found["healthy"] is False
    assert [a["name"] for a in found["alarms"]] == [f"{PREFIX}-{ALARMS[0]}"]
    assert found["alarms"][0]["reason"] == "Threshold Crossed: 3 of 3"
    assert found["findings"] == [
        f"alarm {PREFIX}-{ALARMS[0]} in ALARM since {found['alarms'][0]['since']}"
    ]
    text = deployed.run()
    assert text.returncode == 7
    assert text.stdout.splitlines()[0].endswith("NOT HEALTHY: 1 finding(s)")


def test_a_dirty_schema_is_exit_7(deployed: Environment, fresh_db_url: str) -> None:
    query(fresh_db_url, "UPDATE schema_migrations SET dirty = true")

    result = deployed.run("--json")

    assert result.returncode == 7
    found = document(result)
    assert found["schema"] == {"version": 4, "dirty": True}
    assert found["findings"] == [
        "schema is DIRTY at version 4: see `python -m ops migrate version`"
    ]


def test_a_backup_older_than_allowed_is_exit_7(deployed: Environment) -> None:
    deployed.backups(age_hours=30)  # cdk.json's dev: monitoring.backup_max_age_hours default 26

    result = deployed.run("--json")

    assert result.returncode == 7
    findings = document(result)["findings"]
    assert findings == [
        "table app-data-dev's newest backup is 30.0 h old (allowed: 26 h, "
        "monitoring.backup_max_age_hours)",
        "cluster appdata-dev-cluster's newest backup is 30.0 h old (allowed: 26 h, "
        "monitoring.backup_max_age_hours)",
    ]


def test_sequential_and_concurrent_runs_report_the_same(deployed: Environment) -> None:
    one = document(deployed.run("--json", "--max-workers", "1"))
    many = document(deployed.run("--json", "--max-workers", "8"))
    for found in (one, many):
        found.pop("seconds")
        for resource in found["backups"]["resources"].values():
            resource["age_hours"] = round(resource["age_hours"], 1)
    assert one == many


def test_no_credentials_is_exit_5(deployed: Environment) -> None:
    env = {k: v for k, v in deployed.moto.cli_env(credentials=False).items()}
    result = subprocess.run(
        [sys.executable, "-m", "ops", "status", "--env", ENV],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 5
    assert one_error_line(result).startswith("error: no AWS credentials")


def test_a_stack_not_deployed_is_exit_6(
    moto: MotoServer, data_api: DataApiEndpoint, backup_api: BackupApi
) -> None:
    environment = Environment(moto, data_api, backup_api, {})
    result = environment.run("--json")
    assert result.returncode == 6
    assert "stack DatabaseStack-dev is not deployed in eu-west-1" in one_error_line(result)
    assert json.loads(result.stdout)["exit_code"] == 6
