"""A deployed DatabaseStack-dev for ``ops status``: moto, the Data API and AWS Backup emulators.

Shared by the status tests and ``bench/status_bench.py``, so both measure the
same environment.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ops.database import URL_VARIABLES
from tests.access._helpers import migrate
from tests.fixtures.backup_api import BackupApi
from tests.fixtures.data_api import DataApiEndpoint
from tests.fixtures.moto_server import REGION, MotoServer
from tests.ops._helpers import (
    ENV,
    REPO,
    VAULT,
    create_resources,
    publish_ssm,
    publish_stack,
    published,
)

PREFIX = "appdata-dev"
OTHERS = ("Other-Alarm", f"{PREFIX}el-Build-Failed")
"""Alarms in ALARM that are not this stack's; the second shares the prefix's letters."""
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


def deploy_environment(
    moto: MotoServer, data_api: DataApiEndpoint, backup_api: BackupApi, db_url: str
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
    for name in (*ALARMS, *OTHERS):
        full = name if name in OTHERS else f"{PREFIX}-{name}"
        cloudwatch.put_metric_alarm(
            AlarmName=full, MetricName="CPUUtilization", Namespace="AWS/RDS", Statistic="Average",
            Period=300, EvaluationPeriods=3, Threshold=90, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
    for name in OTHERS:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="not ours")
    cloudwatch.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[{
            "MetricName": "ServerlessDatabaseCapacity", "Value": 1.5,
            "Dimensions": [{"Name": "DBClusterIdentifier", "Value": resources.cluster_id}],
        }],
    )  # fmt: skip
    for name in ALARMS:  # moto evaluates alarms on its own; start from OK, as a quiet stack is
        cloudwatch.set_alarm_state(AlarmName=f"{PREFIX}-{name}", StateValue="OK", StateReason="ok")
    migrate(db_url)
    environment = Environment(moto, data_api, backup_api, values)
    environment.backups(age_hours=2)
    return environment
