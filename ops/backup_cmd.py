"""``python -m ops backup``: on-demand backups, what exists, job status.

``start`` runs an AWS Backup job into the stack's vault with the stack's backup
role, or with ``--native`` DynamoDB CreateBackup / RDS CreateDBClusterSnapshot.
Table, cluster, vault and role come from what DatabaseStack-ENV published.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ops import command, exit_codes, jobs
from ops.aws import Aws, OpsError, call
from ops.backups import (
    RESOURCES,
    BackupItem,
    JobStatus,
    Resource,
    age_line,
    native_backup_name,
    newest_good_age_hours,
)
from ops.command import Outcome
from ops.discovery import Deployment

RUNNING_JOB_STATES = ("CREATED", "PENDING", "RUNNING")

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def register(groups: Any) -> None:
    """Add the ``backup`` group and its subcommands to ``python -m ops``."""
    backup = groups.add_parser(
        "backup",
        help="take on-demand backups, list backups, show job status",
        description=(
            "Backups of the AppData table and the Aurora cluster of one environment.\n\n"
            "  start   on-demand AWS Backup job (or --native DynamoDB backup / RDS snapshot)\n"
            "  list    recovery points, native backups, running jobs, age of the newest good one\n"
            "  status  an AWS Backup backup or restore job, a DynamoDB backup ARN or an RDS\n"
            "          cluster snapshot id; --wait until it ends\n\n"
            "Restores: python -m ops restore dynamodb|aurora --help (always into a new\n"
            "table or cluster). Each subcommand's --help lists its options."
        ),
        epilog=exit_codes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_aws_options(backup, suppress=False)
    backup.set_defaults(handler=_handler, connect=None)
    commands = backup.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    start = command.add_subcommand(
        commands, "start", "start an on-demand backup of the table, the cluster or both"
    )
    command.add_env_options(start)
    start.add_argument(
        "--target", required=True, choices=("dynamodb", "aurora", "all"), help="what to back up"
    )
    start.add_argument(
        "--retention-days",
        type=_positive,
        metavar="N",
        help="AWS Backup: delete the recovery point after N days (default: the vault's rules)",
    )
    start.add_argument(
        "--native",
        action="store_true",
        help="DynamoDB CreateBackup / RDS CreateDBClusterSnapshot instead of AWS Backup "
        "(named appdata-ENV-YYYYMMDD-HHMMSS, kept until deleted)",
    )
    command.add_wait_options(start, "backups")

    listing = command.add_subcommand(
        commands, "list", "list recovery points, native backups and running jobs, with ages"
    )
    command.add_env_options(listing)

    status = command.add_subcommand(
        commands, "status", "show (or --wait for) a backup/restore job, DynamoDB backup or snapshot"
    )
    status.add_argument(
        "job_id",
        metavar="JOB_ID",
        help="AWS Backup job id, DynamoDB backup ARN, or RDS cluster snapshot id/ARN",
    )
    command.add_env_options(status, required=False)
    command.add_wait_options(status, "job")


def _handler(args: argparse.Namespace) -> int:
    body = {"start": cmd_start, "list": cmd_list, "status": cmd_status}[args.command]
    return command.run(args, body)


def cmd_start(args: argparse.Namespace, aws: Aws, clock: Clock = _now) -> Outcome:
    if args.native and args.retention_days is not None:
        raise OpsError(
            "--retention-days applies to AWS Backup jobs; native backups are kept until deleted",
            exit_codes.USAGE,
        )
    deployment = command.find_deployment(aws, args)
    targets: tuple[Resource, ...] = RESOURCES if args.target == "all" else (args.target,)
    progress = jobs.stderr_progress("backup")
    started: list[tuple[JobStatus, jobs.Poll]] = []
    for target in targets:
        if args.native:
            status, poll = _start_native(
                aws, deployment, target, native_backup_name(args.env, clock())
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
    vault, role = deployment.require_vault()
    arn = deployment.table_arn if target == "dynamodb" else deployment.cluster_arn
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

    def poll() -> JobStatus:
        status = jobs.backup_job(aws, job_id)
        if status is None:
            raise OpsError(f"backup job {job_id} vanished in {aws.region}", exit_codes.NOT_FOUND)
        return status

    status = JobStatus(
        kind="backup job",
        job_id=job_id,
        raw_state="CREATED",
        resource=arn,
        result=answer.get("RecoveryPointArn"),
    )
    return status, poll


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
    cluster = deployment.cluster_id
    answer = call(
        aws,
        "rds",
        "CreateDBClusterSnapshot",
        DBClusterIdentifier=cluster,
        DBClusterSnapshotIdentifier=name,
        Tags=[{"Key": "created-by", "Value": "ops-cli"}],
        not_found=f"cluster {cluster}",
    )
    snapshot = answer["DBClusterSnapshot"]
    status = JobStatus(
        kind="cluster snapshot",
        job_id=name,
        raw_state=str(snapshot.get("Status", "creating")),
        resource=deployment.cluster_arn,
        result=snapshot.get("DBClusterSnapshotArn"),
    )
    return status, lambda: jobs.rds_snapshot(aws, name)


def cmd_list(args: argparse.Namespace, aws: Aws, clock: Clock = _now) -> Outcome:
    deployment = command.find_deployment(aws, args)
    items: list[BackupItem] = []
    running: list[JobStatus] = []
    notes: list[str] = []
    if deployment.vault_name:
        items += _recovery_points(aws, deployment, deployment.vault_name)
        running += _running_jobs(aws, deployment, deployment.vault_name)
    else:
        notes.append(f"{deployment.stack_name} publishes no backup vault: AWS Backup not listed")
    items += _native_table_backups(aws, deployment)
    items += _native_cluster_snapshots(aws, deployment)
    running += [
        JobStatus(kind=f"{i.source} {i.resource}", job_id=i.arn, raw_state=i.status)
        for i in items
        if i.status.lower() == "creating"
    ]
    items.sort(key=lambda item: item.created, reverse=True)
    now = clock()
    ages = {resource: newest_good_age_hours(items, resource, now) for resource in RESOURCES}
    pitr = _table_pitr(aws, deployment)
    document = {
        "env": deployment.env,
        "region": aws.region,
        "source": deployment.source,
        "table": deployment.table_name,
        "cluster": deployment.cluster_id,
        "vault": deployment.vault_name,
        "backups": [item.to_dict() for item in items],
        "running": [status.to_dict() for status in running],
        "newest_good_age_hours": ages,
        "dynamodb_pitr_latest_restorable": pitr,
    }
    return Outcome(document, _list_text(deployment, items, running, ages, pitr), notes=notes)


def _list_text(
    deployment: Deployment,
    items: list[BackupItem],
    running: list[JobStatus],
    ages: dict[Resource, float | None],
    pitr: str | None,
) -> str:
    lines = [f"{deployment.stack_name} in {deployment.region} (from {deployment.source})"]
    names = {
        "dynamodb": f"table {deployment.table_name}",
        "aurora": f"cluster {deployment.cluster_id}",
    }
    for resource in RESOURCES:
        lines.append(f"{names[resource]}:")
        mine = [item for item in items if item.resource == resource]
        lines += [
            f"  {item.created.astimezone(UTC):%Y-%m-%d %H:%M} UTC  "
            f"{item.status:<10} {item.source:<10} {item.arn}"
            + ("  (continuous: point-in-time restore)" if item.continuous else "")
            for item in mine
        ] or ["  (no backups)"]
    lines.append("running:" if running else "running: none")
    lines += [f"  {status.line()}" for status in running]
    lines.append(f"DynamoDB PITR: latest restorable time {pitr}" if pitr else "DynamoDB PITR: off")
    lines += [age_line(resource, ages[resource]) for resource in RESOURCES]
    return "\n".join(lines)


def _recovery_points(aws: Aws, deployment: Deployment, vault: str) -> list[BackupItem]:
    items: list[BackupItem] = []
    for resource, arn in (("dynamodb", deployment.table_arn), ("aurora", deployment.cluster_arn)):
        token: str | None = None
        while True:
            page = call(
                aws,
                "backup",
                "ListRecoveryPointsByBackupVault",
                BackupVaultName=vault,
                ByResourceArn=arn,
                not_found=f"backup vault {vault}",
                **({"NextToken": token} if token else {}),
            )
            items += [
                BackupItem(
                    resource=resource,  # type: ignore[arg-type]
                    source="aws-backup",
                    arn=str(point["RecoveryPointArn"]),
                    created=point["CreationDate"],
                    status=str(point.get("Status", "UNKNOWN")),
                    size_bytes=point.get("BackupSizeInBytes"),
                )
                for point in page.get("RecoveryPoints", [])
            ]
            token = page.get("NextToken")
            if not token:
                break
    return items


def _running_jobs(aws: Aws, deployment: Deployment, vault: str) -> list[JobStatus]:
    ours = {deployment.table_arn, deployment.cluster_arn}
    found: list[JobStatus] = []
    for state in RUNNING_JOB_STATES:
        page = call(aws, "backup", "ListBackupJobs", ByBackupVaultName=vault, ByState=state)
        found += [
            JobStatus(
                kind="backup job",
                job_id=str(job["BackupJobId"]),
                raw_state=str(job.get("State", state)),
                resource=str(job.get("ResourceArn", "")),
                percent=job.get("PercentDone"),
            )
            for job in page.get("BackupJobs", [])
            if job.get("ResourceArn") in ours
        ]
    return found


def _native_table_backups(aws: Aws, deployment: Deployment) -> list[BackupItem]:
    items: list[BackupItem] = []
    start: dict[str, str] = {}
    while True:
        page = call(
            aws,
            "dynamodb",
            "ListBackups",
            TableName=deployment.table_name,
            BackupType="USER",
            **start,
        )
        items += [
            BackupItem(
                resource="dynamodb",
                source="native",
                arn=str(summary["BackupArn"]),
                created=summary["BackupCreationDateTime"],
                status=str(summary.get("BackupStatus", "UNKNOWN")),
                size_bytes=summary.get("BackupSizeBytes"),
            )
            for summary in page.get("BackupSummaries", [])
        ]
        last = page.get("LastEvaluatedBackupArn")
        if not last:
            return items
        start = {"ExclusiveStartBackupArn": str(last)}


def _native_cluster_snapshots(aws: Aws, deployment: Deployment) -> list[BackupItem]:
    items: list[BackupItem] = []
    marker: dict[str, str] = {}
    while True:
        page = call(
            aws,
            "rds",
            "DescribeDBClusterSnapshots",
            DBClusterIdentifier=deployment.cluster_id,
            SnapshotType="manual",
            **marker,
        )
        items += [
            BackupItem(
                resource="aurora",
                source="native",
                arn=str(snapshot["DBClusterSnapshotIdentifier"]),
                created=snapshot.get("SnapshotCreateTime") or snapshot["ClusterCreateTime"],
                status=str(snapshot.get("Status", "unknown")),
            )
            for snapshot in page.get("DBClusterSnapshots", [])
        ]
        if not page.get("Marker"):
            return items
        marker = {"Marker": str(page["Marker"])}


def _table_pitr(aws: Aws, deployment: Deployment) -> str | None:
    answer = call(
        aws,
        "dynamodb",
        "DescribeContinuousBackups",
        TableName=deployment.table_name,
        not_found=f"table {deployment.table_name}",
    )
    pitr = answer.get("ContinuousBackupsDescription", {}).get("PointInTimeRecoveryDescription", {})
    latest = pitr.get("LatestRestorableDateTime")
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED" or latest is None:
        return None
    return str(latest.astimezone(UTC).isoformat())


def cmd_status(args: argparse.Namespace, aws: Aws) -> Outcome:
    job_id = str(args.job_id)
    if args.wait:
        statuses = jobs.wait_all(
            [lambda: jobs.describe(aws, job_id)],
            interval=args.poll_seconds,
            progress=jobs.stderr_progress("backup"),
        )
    else:
        statuses = [jobs.describe(aws, job_id)]
    status = statuses[0]
    return Outcome(
        {"region": aws.region, "job": status.to_dict()}, status.line(), jobs.exit_code_of(statuses)
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
