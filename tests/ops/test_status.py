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
from typing import Any

import pytest

from tests.fixtures.backup_api import BackupApi
from tests.fixtures.data_api import DataApiEndpoint
from tests.fixtures.moto_server import MotoServer
from tests.migrations._helpers import query
from tests.ops._helpers import ENV, REPO, one_error_line
from tests.ops._status_env import ALARMS, PREFIX, Environment, deploy_environment


@pytest.fixture
def deployed(
    moto: MotoServer, data_api: DataApiEndpoint, backup_api: BackupApi, fresh_db_url: str
) -> Environment:
    return deploy_environment(moto, data_api, backup_api, fresh_db_url)


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
    assert found["alarms"] == []  # OTHERS are in ALARM, but not this stack's
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
    assert f"alarms   none in ALARM (prefix {PREFIX}-)" in lines


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


def test_a_rolled_back_update_is_not_a_failed_stack(deployed: Environment) -> None:
    """UPDATE_ROLLBACK_COMPLETE: the last update failed, the stack runs its previous state."""
    from ops.status.checks import stack_finding  # noqa: PLC0415

    assert stack_finding("DatabaseStack-dev", "UPDATE_ROLLBACK_COMPLETE") is None
    assert stack_finding("DatabaseStack-dev", "ROLLBACK_COMPLETE") == (
        "stack DatabaseStack-dev is ROLLBACK_COMPLETE"
    )
    assert stack_finding("DatabaseStack-dev", "UPDATE_ROLLBACK_FAILED") is not None
    assert document(deployed.run("--json"))["stack"]["status"] == "CREATE_COMPLETE"


def test_a_broken_schema_table_is_one_line_not_a_traceback(
    deployed: Environment, fresh_db_url: str
) -> None:
    query(fresh_db_url, "ALTER TABLE schema_migrations ALTER COLUMN version TYPE text")
    query(fresh_db_url, "UPDATE schema_migrations SET version = 'four'")
    result = deployed.run()
    assert result.returncode == 1
    assert one_error_line(result).startswith("error: schema: ")
