"""``python -m ops backup start``: on-demand backups of the table, the clusters, or all.

An AWS Backup job into the stack's vault with the stack's backup role, or with
``--native`` DynamoDB CreateBackup / RDS or DocumentDB CreateDBClusterSnapshot.
Table, clusters, vault and role come from what DatabaseStack-ENV published;
``all`` includes the DocumentDB cluster where the stack has one.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from ops import command, exit_codes, jobs
from ops.aws import Aws, call
from ops.backups import (
    Clock,
    JobStatus,
    Resource,
    native_backup_name,
    utc_now,
)
from ops.command import Outcome
from ops.discovery import Deployment
from ops.errors import OpsError


def cmd_start(args: argparse.Namespace, aws: Aws, clock: Clock = utc_now) -> Outcome:
    if args.native and args.retention_days is not None:
        raise OpsError(
            "--retention-days applies to AWS Backup jobs; native backups are kept until deleted",
            exit_codes.USAGE,
        )
    deployment = command.find_deployment(aws, args)
    targets: tuple[Resource, ...] = deployment.resources if args.target == "all" else (args.target,)
    progress = jobs.stderr_progress("backup")
    started: list[tuple[JobStatus, jobs.Poll]] = []
    for target in targets:
        if args.native:
            status, poll = _start_native(
                aws, deployment, target, native_backup_name(args.env, clock(), target)
            )
        else:
            status, poll = _start_aws_backup(aws, deployment, target, args.retention_days)
        progress(f"started {status.line()}")
        started.append((status, poll))
    statuses = [status for status, _ in started]
    if args.wait:
        statuses = jobs.wait_all(
            [poll for _, poll in started], interval=args.poll_seconds, progress=progress
        )
    return Outcome(
        {"env": args.env, "region": aws.region, "jobs": [s.to_dict() for s in statuses]},
        "\n".join(s.line() for s in statuses),
        jobs.exit_code_of(statuses),
    )


def _start_aws_backup(
    aws: Aws, deployment: Deployment, target: Resource, retention_days: int | None
) -> tuple[JobStatus, jobs.Poll]:
    arn = deployment.arn(target)
    vault, role = deployment.require_vault()
    params: dict[str, Any] = {
        "BackupVaultName": vault,
        "ResourceArn": arn,
        "IamRoleArn": role,
        "IdempotencyToken": str(uuid.uuid4()),
    }
    if retention_days is not None:
        params["Lifecycle"] = {"DeleteAfterDays": retention_days}
    answer = call(aws, "backup", "StartBackupJob", not_found=f"vault {vault} or {arn}", **params)
    job_id = str(answer["BackupJobId"])

    status = JobStatus(
        kind="backup job",
        job_id=job_id,
        raw_state="CREATED",
        resource=arn,
        result=answer.get("RecoveryPointArn"),
    )
    return status, jobs.poll_started(jobs.backup_job, aws, job_id, "backup job")


def _start_native(
    aws: Aws, deployment: Deployment, target: Resource, name: str
) -> tuple[JobStatus, jobs.Poll]:
    if target == "dynamodb":
        table = deployment.table_name
        answer = call(
            aws,
            "dynamodb",
            "CreateBackup",
            TableName=table,
            BackupName=name,
            not_found=f"table {table}",
        )
        details = answer["BackupDetails"]
        arn = str(details["BackupArn"])
        status = JobStatus(
            kind="dynamodb backup",
            job_id=arn,
            raw_state=str(details["BackupStatus"]),
            resource=deployment.table_arn,
            result=arn,
        )
        return status, lambda: jobs.dynamodb_backup(aws, arn)
    cluster, cluster_arn = deployment.cluster(target)
    service = jobs.cluster_service(target)
    answer = call(
        aws,
        service,
        "CreateDBClusterSnapshot",
        DBClusterIdentifier=cluster,
        DBClusterSnapshotIdentifier=name,
        Tags=[{"Key": "created-by", "Value": "ops-cli"}],
        not_found=f"cluster {cluster}",
    )
    snapshot = answer["DBClusterSnapshot"]
    status = JobStatus(
        kind=jobs.snapshot_kind(service),
        job_id=name,
        raw_state=str(snapshot.get("Status", "creating")),
        resource=cluster_arn,
        result=snapshot.get("DBClusterSnapshotArn"),
    )
    return status, lambda: jobs.rds_snapshot(aws, name, service)
