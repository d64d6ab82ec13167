"""``python -m ops backup list``: what backups exist, what runs, how old the newest good one is.

AWS Backup recovery points and running jobs (when the stack has a vault),
native DynamoDB backups and manual cluster snapshots (Aurora's, and
DocumentDB's where the stack has it), the table's PITR window, newest first,
as text or one JSON document.
"""

from __future__ import annotations

import argparse
from datetime import UTC

from ops import command, jobs
from ops.aws import Aws, call
from ops.backups import (
    CLUSTERS,
    BackupItem,
    Clock,
    JobStatus,
    Resource,
    age_line,
    newest_good_age_hours,
    utc_now,
)
from ops.command import Outcome
from ops.discovery import Deployment

RUNNING_JOB_STATES = ("CREATED", "PENDING", "RUNNING")


def cmd_list(args: argparse.Namespace, aws: Aws, clock: Clock = utc_now) -> Outcome:
    deployment = command.find_deployment(aws, args)
    items: list[BackupItem] = []
    running: list[JobStatus] = []
    notes: list[str] = []
    if deployment.vault_name:
        items += recovery_points(aws, deployment, deployment.vault_name)
        running += running_backup_jobs(aws, deployment, deployment.vault_name)
    else:
        notes.append(f"{deployment.stack_name} publishes no backup vault: AWS Backup not listed")
    items += _native_table_backups(aws, deployment)
    for cluster in CLUSTERS:
        if cluster in deployment.resources:
            items += _native_cluster_snapshots(aws, deployment, cluster)
    running += [
        JobStatus(kind=f"{i.source} {i.resource}", job_id=i.arn, raw_state=i.status)
        for i in items
        if i.status.lower() == "creating"
    ]
    items.sort(key=lambda item: item.created, reverse=True)
    now = clock()
    ages = {r: newest_good_age_hours(items, r, now) for r in deployment.resources}
    pitr = _table_pitr(aws, deployment)
    document = {
        "env": deployment.env,
        "region": aws.region,
        "source": deployment.source,
        "table": deployment.table_name,
        "cluster": deployment.cluster_id,
        "document_db_cluster": deployment.document_db_cluster_id,
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
    for resource in deployment.resources:
        lines.append(f"{deployment.label(resource)}:")
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
    lines += [age_line(resource, ages[resource]) for resource in deployment.resources]
    return "\n".join(lines)


def recovery_points(aws: Aws, deployment: Deployment, vault: str) -> list[BackupItem]:
    items: list[BackupItem] = []
    for resource in deployment.resources:
        arn = deployment.arn(resource)
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
                    resource=resource,
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


def running_backup_jobs(aws: Aws, deployment: Deployment, vault: str) -> list[JobStatus]:
    ours = {deployment.arn(resource) for resource in deployment.resources}
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


def _native_cluster_snapshots(
    aws: Aws, deployment: Deployment, resource: Resource
) -> list[BackupItem]:
    items: list[BackupItem] = []
    marker: dict[str, str] = {}
    while True:
        page = call(
            aws,
            jobs.cluster_service(resource),
            "DescribeDBClusterSnapshots",
            DBClusterIdentifier=deployment.cluster(resource)[0],
            SnapshotType="manual",
            **marker,
        )
        items += [
            BackupItem(
                resource=resource,
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
