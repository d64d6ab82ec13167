"""Where a backup or restore stands, and ``--wait``: poll until every job has ended."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ops import exit_codes
from ops.aws import NOT_FOUND_CODES, Aws, call, error_code
from ops.backups import FAILED, JobStatus, Resource, classify_job_id
from ops.errors import OpsError

Poll = Callable[[], JobStatus]
_MISSING = NOT_FOUND_CODES | {"InvalidParameterValueException"}


def describe(aws: Aws, job_id: str) -> JobStatus:
    """``backup status``: AWS Backup backup/restore job, DynamoDB backup, RDS cluster snapshot."""
    kind = classify_job_id(job_id)
    if kind == "dynamodb-backup":
        return dynamodb_backup(aws, job_id)
    if kind == "rds-snapshot":
        return rds_snapshot(aws, job_id)
    for lookup in (backup_job, restore_job):
        status = lookup(aws, job_id)
        if status is not None:
            return status
    raise OpsError(
        f"unknown job {job_id} in {aws.region}: no AWS Backup backup or restore job has that id",
        exit_codes.NOT_FOUND,
    )


def backup_job(aws: Aws, job_id: str) -> JobStatus | None:
    try:
        job = call(aws, "backup", "DescribeBackupJob", BackupJobId=job_id)
    except OpsError as exc:
        if error_code(exc) in _MISSING:
            return None
        raise
    return JobStatus(
        kind="backup job",
        job_id=job_id,
        raw_state=str(job.get("State", "UNKNOWN")),
        resource=str(job.get("ResourceArn", "")),
        percent=job.get("PercentDone"),
        message=job.get("StatusMessage"),
        result=job.get("RecoveryPointArn"),
    )


def restore_job(aws: Aws, job_id: str) -> JobStatus | None:
    try:
        job = call(aws, "backup", "DescribeRestoreJob", RestoreJobId=job_id)
    except OpsError as exc:
        if error_code(exc) in _MISSING:
            return None
        raise
    return JobStatus(
        kind="restore job",
        job_id=job_id,
        raw_state=str(job.get("Status", "UNKNOWN")),
        resource=str(job.get("RecoveryPointArn", "")),
        percent=job.get("PercentDone"),
        message=job.get("StatusMessage"),
        result=job.get("CreatedResourceArn"),
    )


def poll_started(
    lookup: Callable[[Aws, str], JobStatus | None], aws: Aws, job_id: str, kind: str
) -> Poll:
    """A `Poll` of an AWS Backup job we just started; ``lookup`` is `backup_job` or `restore_job`.

    They answer None for an unknown id; for a job we started, that means it
    vanished while we waited: `exit_codes.NOT_FOUND`.
    """

    def poll() -> JobStatus:
        status = lookup(aws, job_id)
        if status is None:
            raise OpsError(f"{kind} {job_id} vanished in {aws.region}", exit_codes.NOT_FOUND)
        return status

    return poll


def dynamodb_backup(aws: Aws, arn: str) -> JobStatus:
    answer = call(aws, "dynamodb", "DescribeBackup", BackupArn=arn, not_found=f"backup {arn}")
    details = answer["BackupDescription"]["BackupDetails"]
    source = answer["BackupDescription"].get("SourceTableDetails", {})
    return JobStatus(
        kind="dynamodb backup",
        job_id=arn,
        raw_state=str(details["BackupStatus"]),
        resource=str(source.get("TableArn", "")),
        result=arn,
    )


def cluster_service(resource: Resource) -> str:
    """The API of a cluster's snapshots and restores: ``rds`` for Aurora, ``docdb``."""
    return "docdb" if resource == "documentdb" else "rds"


def snapshot_kind(service: str) -> str:
    return "documentdb snapshot" if service == "docdb" else "cluster snapshot"


def rds_snapshot(aws: Aws, snapshot: str, service: str = "rds") -> JobStatus:
    """A cluster snapshot's state, through ``rds`` or ``docdb`` (the same API shape)."""
    answer = call(
        aws,
        service,
        "DescribeDBClusterSnapshots",
        DBClusterSnapshotIdentifier=snapshot,
        not_found=f"cluster snapshot {snapshot}",
    )
    snapshots: list[dict[str, Any]] = answer.get("DBClusterSnapshots", [])
    if not snapshots:
        raise OpsError(
            f"cluster snapshot {snapshot} not found in {aws.region}", exit_codes.NOT_FOUND
        )
    item = snapshots[0]
    return JobStatus(
        kind=snapshot_kind(service),
        job_id=snapshot,
        raw_state=str(item.get("Status", "unknown")),
        resource=str(item.get("DBClusterIdentifier", "")),
        percent=str(item["PercentProgress"]) if "PercentProgress" in item else None,
        result=item.get("DBClusterSnapshotArn"),
    )


def dynamodb_table(aws: Aws, table: str) -> JobStatus:
    answer = call(aws, "dynamodb", "DescribeTable", TableName=table, not_found=f"table {table}")
    description = answer["Table"]
    restoring = description.get("RestoreSummary", {}).get("RestoreInProgress", False)
    state = "RESTORING" if restoring else str(description.get("TableStatus", "UNKNOWN"))
    return JobStatus(
        kind="table restore", job_id=table, raw_state=state, result=description.get("TableArn")
    )


def rds_cluster(aws: Aws, cluster: str, service: str = "rds") -> JobStatus:
    answer = call(
        aws,
        service,
        "DescribeDBClusters",
        DBClusterIdentifier=cluster,
        not_found=f"cluster {cluster}",
    )
    item = answer["DBClusters"][0]
    return JobStatus(
        kind="cluster restore",
        job_id=cluster,
        raw_state=str(item.get("Status", "unknown")),
        result=item.get("DBClusterArn"),
    )


def wait_all(
    polls: Sequence[Poll],
    *,
    interval: float,
    progress: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> list[JobStatus]:
    """Poll every job until each has ended; report each change of state on ``progress``."""
    last: dict[int, str] = {}
    finished: dict[int, JobStatus] = {}
    while True:
        for index, poll in enumerate(polls):
            if index in finished:
                continue
            status = poll()
            line = status.line()
            if last.get(index) != line:
                progress(line)
                last[index] = line
            if status.done:
                finished[index] = status
        if len(finished) == len(polls):
            return [finished[index] for index in range(len(polls))]
        sleep(interval)


def exit_code_of(statuses: Sequence[JobStatus]) -> int:
    return exit_codes.JOB_FAILED if any(s.state == FAILED for s in statuses) else exit_codes.OK


def stderr_progress(prefix: str) -> Callable[[str], None]:
    def emit(line: str) -> None:
        print(f"{prefix}: {line}", file=sys.stderr, flush=True)

    return emit
