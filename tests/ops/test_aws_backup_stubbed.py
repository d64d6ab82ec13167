"""The AWS Backup paths, with the ``backup`` client wrapped in botocore's Stubber.

Stubbed, because moto 5.2.5 does not implement them (its backup backend has
vaults, plans, tags and report plans only; its server answers HTML 404 to the
rest): StartBackupJob, DescribeBackupJob, DescribeRestoreJob, ListBackupJobs,
ListRecoveryPointsByBackupVault, GetRecoveryPointRestoreMetadata,
StartRestoreJob. The Stubber checks every request against botocore's real
service model (required members, types, shapes) and the exact parameters
given here. Everything else (SSM discovery, DynamoDB, RDS) still runs on the
moto server over HTTP. The CLI runs in-process through ``ops.cli.main`` with
a ``connect`` that hands out these clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ops.aws import Aws
from tests.fixtures.moto_server import REGION, MotoServer
from tests.ops._helpers import (
    ROLE_ARN,
    TABLE,
    VAULT,
    Deployed,
    create_resources,
    deploy,
    json_out,
    one_error_line,
    publish_stack,
    published,
)
from tests.ops.conftest import RunOps

JOB_1 = "D3D3D3D3-1111-2222-3333-444444444444"
JOB_2 = "E4E4E4E4-1111-2222-3333-444444444444"
RECOVERY_POINT = f"arn:aws:backup:{REGION}:123456789012:recovery-point:ABCDEF01-2345-6789"
RDS_RECOVERY_POINT = f"arn:aws:rds:{REGION}:123456789012:cluster-snapshot:awsbackup:job-abc"


@dataclass
class Stubbed:
    stubber: Stubber
    resources: Deployed
    aws: Aws

    def connect(self, args: Any) -> Aws:
        del args
        return self.aws


@pytest.fixture
def stubbed(moto: MotoServer) -> Iterator[Stubbed]:
    resources = deploy(moto, backups=True)
    backup = moto.fresh_client("backup")
    stubber = Stubber(backup)
    aws = Aws(REGION, lambda service: backup if service == "backup" else moto.client(service))
    with stubber:
        yield Stubbed(stubber, resources, aws)
        stubber.assert_no_pending_responses()


def started(stubbed: Stubbed, arn: str, job_id: str, **extra: Any) -> None:
    stubbed.stubber.add_response(
        "start_backup_job",
        {"BackupJobId": job_id, "CreationDate": datetime.now(UTC)},
        {
            "BackupVaultName": VAULT,
            "ResourceArn": arn,
            "IamRoleArn": ROLE_ARN,
            "IdempotencyToken": ANY,
            **extra,
        },
    )


def job(stubbed: Stubbed, job_id: str, state: str, **fields: Any) -> None:
    response = {"BackupJobId": job_id, "State": state, **fields}
    stubbed.stubber.add_response("describe_backup_job", response, {"BackupJobId": job_id})


def test_start_all_through_aws_backup_and_wait(stubbed: Stubbed, run_ops: RunOps) -> None:
    table_arn, cluster_arn = stubbed.resources.table_arn, stubbed.resources.cluster_arn
    started(stubbed, table_arn, JOB_1, Lifecycle={"DeleteAfterDays": 7})
    started(stubbed, cluster_arn, JOB_2, Lifecycle={"DeleteAfterDays": 7})
    job(stubbed, JOB_1, "RUNNING", PercentDone="40.0", ResourceArn=table_arn)
    job(stubbed, JOB_2, "COMPLETED", ResourceArn=cluster_arn, RecoveryPointArn=RDS_RECOVERY_POINT)
    job(stubbed, JOB_1, "COMPLETED", ResourceArn=table_arn, RecoveryPointArn=RECOVERY_POINT)

    result = run_ops(
        "backup", "start", "--env", "dev", "--target", "all", "--retention-days", "7",
        "--wait", "--poll-seconds", "0", "--json", connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json_out(result)
    assert document["ok"] is True
    assert [(j["id"], j["state"], j["result"]) for j in document["jobs"]] == [
        (JOB_1, "COMPLETED", RECOVERY_POINT),
        (JOB_2, "COMPLETED", RDS_RECOVERY_POINT),
    ]
    assert f"backup: started backup job {JOB_1}: CREATED" in result.stderr
    assert f"backup: backup job {JOB_1}: RUNNING (40.0%)" in result.stderr


@pytest.mark.parametrize("state", ["FAILED", "ABORTED", "EXPIRED"])
def test_wait_exits_4_when_the_job_does_not_complete(
    stubbed: Stubbed, run_ops: RunOps, state: str
) -> None:
    started(stubbed, stubbed.resources.table_arn, JOB_1)
    job(stubbed, JOB_1, "RUNNING")
    job(stubbed, JOB_1, state, StatusMessage="The backup job failed: KMS key disabled")
    result = run_ops(
        "backup", "start", "--env", "dev", "--target", "dynamodb", "--wait",
        "--poll-seconds", "0", connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 4
    assert (
        result.stdout == f"backup job {JOB_1}: {state}: The backup job failed: KMS key disabled\n"
    )


def test_status_of_a_failed_job_exits_4_and_of_a_restore_job_0(
    stubbed: Stubbed, run_ops: RunOps
) -> None:
    job(stubbed, JOB_1, "FAILED", StatusMessage="boom")
    failed = run_ops("backup", "status", JOB_1, "--json", connect=stubbed.connect)
    assert failed.returncode == 4
    assert json_out(failed)["job"]["state"] == "FAILED" and json_out(failed)["ok"] is False

    stubbed.stubber.add_client_error(
        "describe_backup_job",
        "ResourceNotFoundException",
        "no such job",
        404,
        {"BackupJobId": JOB_2},
    )
    stubbed.stubber.add_response(
        "describe_restore_job",
        {"RestoreJobId": JOB_2, "Status": "COMPLETED", "CreatedResourceArn": "arn:new"},
        {"RestoreJobId": JOB_2},
    )
    restore = run_ops("backup", "status", JOB_2, connect=stubbed.connect)
    assert restore.returncode == 0, restore.stderr
    assert restore.stdout == f"restore job {JOB_2}: COMPLETED -> arn:new\n"


def test_status_wait_polls_until_the_job_ends(stubbed: Stubbed, run_ops: RunOps) -> None:
    job(stubbed, JOB_1, "CREATED")
    job(stubbed, JOB_1, "RUNNING", PercentDone="50.0")
    job(stubbed, JOB_1, "COMPLETED", RecoveryPointArn=RECOVERY_POINT)
    result = run_ops(
        "backup", "status", JOB_1, "--wait", "--poll-seconds", "0", connect=stubbed.connect
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"backup: backup job {JOB_1}: CREATED",
        f"backup: backup job {JOB_1}: RUNNING (50.0%)",
        f"backup: backup job {JOB_1}: COMPLETED -> {RECOVERY_POINT}",
    ]


def test_unknown_job(stubbed: Stubbed, run_ops: RunOps) -> None:
    for operation, key in (
        ("describe_backup_job", "BackupJobId"),
        ("describe_restore_job", "RestoreJobId"),
    ):
        stubbed.stubber.add_client_error(
            operation, "ResourceNotFoundException", "Cannot find job", 404, {key: JOB_1}
        )
    result = run_ops("backup", "status", JOB_1, connect=stubbed.connect)
    assert result.returncode == 6
    assert one_error_line(result) == (
        f"error: unknown job {JOB_1} in {REGION}: no AWS Backup backup or restore job has that id"
    )


def test_access_denied_names_the_action_from_the_message(stubbed: Stubbed, run_ops: RunOps) -> None:
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/ops/me is not authorized to perform: "
        f"iam:PassRole on resource: {ROLE_ARN} because no identity-based policy allows it"
    )
    stubbed.stubber.add_client_error("start_backup_job", "AccessDeniedException", message, 403)
    result = run_ops(
        "backup", "start", "--env", "dev", "--target", "aurora", "--json", connect=stubbed.connect
    )
    assert result.returncode == 5
    expected = f"access denied: missing permission iam:PassRole on {ROLE_ARN}"
    assert one_error_line(result) == f"error: {expected}"
    assert json_out(result)["error"] == expected


def test_access_denied_without_details_names_the_operation(
    stubbed: Stubbed, run_ops: RunOps
) -> None:
    stubbed.stubber.add_client_error(
        "describe_backup_job", "AccessDeniedException", "Access Denied", 403
    )
    result = run_ops("backup", "status", JOB_1, connect=stubbed.connect)
    assert result.returncode == 5
    assert (
        one_error_line(result)
        == "error: access denied: missing permission backup:DescribeBackupJob"
    )


def test_ssm_denied_falls_back_to_the_stack_outputs(moto: MotoServer, run_ops: RunOps) -> None:
    """SSM GetParametersByPath is stubbed (moto cannot deny access); CloudFormation is moto's."""
    resources = create_resources(moto)
    publish_stack(moto, published(resources, backups=False))
    ssm = boto3.client(
        "ssm", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    aws = Aws(REGION, lambda service: ssm if service == "ssm" else moto.client(service))
    with Stubber(ssm) as stubber:
        stubber.add_client_error("get_parameters_by_path", "AccessDeniedException", "no", 400)
        result = run_ops("backup", "list", "--env", "dev", "--json", connect=lambda args: aws)
        stubber.assert_no_pending_responses()
    assert result.returncode == 0, result.stderr
    assert json_out(result)["source"] == "stack DatabaseStack-dev"


def test_expired_token(stubbed: Stubbed, run_ops: RunOps) -> None:
    stubbed.stubber.add_client_error(
        "describe_backup_job",
        "ExpiredTokenException",
        "The security token included in the request is expired",
        403,
    )
    result = run_ops("backup", "status", JOB_1, connect=stubbed.connect)
    assert result.returncode == 5
    assert one_error_line(result) == (
        "error: AWS rejected the credentials (ExpiredTokenException): "
        "run `aws sso login` or refresh the keys"
    )


def test_list_shows_recovery_points_running_jobs_and_ages(
    stubbed: Stubbed, run_ops: RunOps
) -> None:
    now = datetime.now(UTC)
    table_arn, cluster_arn = stubbed.resources.table_arn, stubbed.resources.cluster_arn

    def point(arn: str, resource: str, hours: float, status: str) -> dict[str, Any]:
        return {
            "RecoveryPointArn": arn,
            "ResourceArn": resource,
            "CreationDate": now - timedelta(hours=hours),
            "Status": status,
        }

    stubbed.stubber.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                point(RECOVERY_POINT, table_arn, 5, "COMPLETED"),
                point(RECOVERY_POINT + "-newer", table_arn, 1, "EXPIRED"),
            ]
        },
        {"BackupVaultName": VAULT, "ByResourceArn": table_arn},
    )
    stubbed.stubber.add_response(
        "list_recovery_points_by_backup_vault",
        {"RecoveryPoints": [point(RDS_RECOVERY_POINT, cluster_arn, 30, "COMPLETED")]},
        {"BackupVaultName": VAULT, "ByResourceArn": cluster_arn},
    )
    for state in ("CREATED", "PENDING", "RUNNING"):
        jobs = (
            [
                {
                    "BackupJobId": JOB_1,
                    "State": "RUNNING",
                    "ResourceArn": cluster_arn,
                    "PercentDone": "12.0",
                },
                {"BackupJobId": JOB_2, "State": "RUNNING", "ResourceArn": "arn:aws:rds:other"},
            ]
            if state == "RUNNING"
            else []
        )
        stubbed.stubber.add_response(
            "list_backup_jobs", {"BackupJobs": jobs}, {"ByBackupVaultName": VAULT, "ByState": state}
        )
    result = run_ops("backup", "list", "--env", "dev", connect=stubbed.connect)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"DatabaseStack-dev in {REGION} (from SSM /appdata/dev/)"
    assert f"table {TABLE}:" in lines
    assert any(
        RECOVERY_POINT in line and "COMPLETED" in line and "aws-backup" in line for line in lines
    )
    assert f"  backup job {JOB_1}: RUNNING (12.0%)" in lines
    assert not any(JOB_2 in line for line in lines)  # another resource's job
    assert "DynamoDB table: newest good backup is 5 hours old" in lines
    assert "Aurora cluster: newest good backup is 30 hours old" in lines


def test_restore_dynamodb_through_aws_backup(stubbed: Stubbed, run_ops: RunOps) -> None:
    stubbed.stubber.add_response(
        "get_recovery_point_restore_metadata",
        {"RestoreMetadata": {"originalTableName": TABLE, "targetTableName": TABLE}},
        {"BackupVaultName": VAULT, "RecoveryPointArn": RECOVERY_POINT},
    )
    stubbed.stubber.add_response(
        "start_restore_job",
        {"RestoreJobId": JOB_1},
        {
            "RecoveryPointArn": RECOVERY_POINT,
            "Metadata": {"originalTableName": TABLE, "targetTableName": "app-data-dev-copy"},
            "IamRoleArn": ROLE_ARN,
            "ResourceType": "DynamoDB",
            "IdempotencyToken": ANY,
        },
    )
    for status in ("RUNNING", "COMPLETED"):
        stubbed.stubber.add_response(
            "describe_restore_job",
            {"RestoreJobId": JOB_1, "Status": status},
            {"RestoreJobId": JOB_1},
        )
    result = run_ops(
        "restore", "dynamodb", "--env", "dev", "--recovery-point", RECOVERY_POINT,
        "--to-table", "app-data-dev-copy", "--wait", "--poll-seconds", "0", "--json",
        connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json_out(result)["job"] == {
        "kind": "restore job",
        "id": JOB_1,
        "state": "COMPLETED",
        "service_state": "COMPLETED",
        "resource": "",
        "percent_done": None,
        "message": None,
        "result": None,
    }


def test_restore_aurora_through_aws_backup_fills_placement_and_fails(
    stubbed: Stubbed, run_ops: RunOps
) -> None:
    stubbed.stubber.add_response(
        "get_recovery_point_restore_metadata",
        {
            "RestoreMetadata": {
                "DBClusterIdentifier": "appdata-dev-cluster",
                "EngineVersion": "16.6",
            }
        },
        {"BackupVaultName": VAULT, "RecoveryPointArn": RDS_RECOVERY_POINT},
    )
    stubbed.stubber.add_response(
        "start_restore_job",
        {"RestoreJobId": JOB_2},
        {
            "RecoveryPointArn": RDS_RECOVERY_POINT,
            "Metadata": {
                "DBClusterIdentifier": "appdata-dev-copy",
                "EngineVersion": "16.6",
                "Engine": "aurora-postgresql",
                "DBSubnetGroupName": "default",
            },
            "IamRoleArn": ROLE_ARN,
            "ResourceType": "Aurora",
            "IdempotencyToken": ANY,
        },
    )
    stubbed.stubber.add_response(
        "describe_restore_job",
        {"RestoreJobId": JOB_2, "Status": "FAILED", "StatusMessage": "subnet group not found"},
        {"RestoreJobId": JOB_2},
    )
    result = run_ops(
        "restore", "aurora", "--env", "dev", "--recovery-point", RDS_RECOVERY_POINT,
        "--to-cluster", "appdata-dev-copy", "--wait", "--poll-seconds", "0",
        connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 4
    assert result.stdout == f"restore job {JOB_2}: FAILED: subnet group not found\n"
    assert "note: a restore creates the cluster only" in result.stderr


def test_unknown_recovery_point(stubbed: Stubbed, run_ops: RunOps) -> None:
    stubbed.stubber.add_client_error(
        "get_recovery_point_restore_metadata", "ResourceNotFoundException", "nope", 404
    )
    result = run_ops(
        "restore", "dynamodb", "--env", "dev", "--recovery-point", RECOVERY_POINT,
        "--to-table", "app-data-dev-copy", connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 6
    assert one_error_line(result) == (
        f"error: recovery point {RECOVERY_POINT} in vault {VAULT} not found in {REGION}"
    )
