"""``python -m ops restore dynamodb|aurora|documentdb``: a backup into a NEW table or cluster.

AWS Backup recovery points go through StartRestoreJob (with the recovery
point's own restore metadata and the stack's backup role); native DynamoDB
backups through RestoreTableFromBackup; native cluster snapshots through
RDS's or DocumentDB's RestoreDBClusterFromSnapshot; ``--point-in-time``
through the services' own point-in-time restore of the live resource.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

from ops import command, jobs
from ops.aws import Aws, call
from ops.backups import (
    JobStatus,
    Resource,
    backup_resource_type,
    check_cluster_identifier,
    check_table_name,
    cluster_restore_metadata,
    dynamodb_restore_metadata,
    native_cluster_params,
    parse_point_in_time,
    refuse_live,
    restore_path,
    same_major_version,
)
from ops.command import Outcome
from ops.discovery import Deployment
from ops.project import document_db_instance_class

TABLE_NOTE = (
    "a restored table does not inherit PITR, TTL, auto scaling, streams or tags: "
    "set them if the table is to be kept"
)


def cluster_note(cluster: str, resource: Resource, env: str) -> str:
    if resource == "documentdb":
        instance_class = document_db_instance_class(env)
        command = (
            f"`aws docdb create-db-instance --db-cluster-identifier {cluster} "
            f"--db-instance-identifier {cluster}-1 --db-instance-class {instance_class} "
            "--engine docdb` (the class document_db configures)"
        )
    else:
        command = (
            f"`aws rds create-db-instance --db-cluster-identifier {cluster} "
            f"--db-instance-identifier {cluster}-writer --db-instance-class db.serverless "
            "--engine aurora-postgresql`"
        )
    return (
        "a restore creates the cluster only: add an instance before connecting, e.g. "
        f"{command} once the cluster is available"
    )


def cmd_dynamodb(args: argparse.Namespace, aws: Aws) -> Outcome:
    target = check_table_name(args.to_table)
    deployment = command.find_deployment(aws, args)
    refuse_live(target, deployment.table_name, what="table", case_sensitive=True)
    if args.point_in_time is not None:
        moment = parse_point_in_time(args.point_in_time, datetime.now(UTC))
        when: dict[str, Any] = (
            {"UseLatestRestorableTime": True} if moment is None else {"RestoreDateTime": moment}
        )
        call(
            aws,
            "dynamodb",
            "RestoreTableToPointInTime",
            SourceTableName=deployment.table_name,
            TargetTableName=target,
            not_found=f"table {deployment.table_name}",
            **when,
        )
        first, poll = _table_started(aws, target)
    elif restore_path(args.recovery_point, "dynamodb") == "native":
        call(
            aws,
            "dynamodb",
            "RestoreTableFromBackup",
            TargetTableName=target,
            BackupArn=args.recovery_point,
            not_found=f"backup {args.recovery_point}",
        )
        first, poll = _table_started(aws, target)
    else:
        first, poll = _start_restore_job(
            aws,
            deployment,
            args.recovery_point,
            "DynamoDB",
            lambda base: dynamodb_restore_metadata(base, target),
        )
    return _finish(args, aws, first, poll, target=target, notes=[TABLE_NOTE])


def cmd_aurora(args: argparse.Namespace, aws: Aws) -> Outcome:
    return _restore_cluster(args, aws, "aurora")


def cmd_documentdb(args: argparse.Namespace, aws: Aws) -> Outcome:
    return _restore_cluster(args, aws, "documentdb")


def _restore_cluster(args: argparse.Namespace, aws: Aws, resource: Resource) -> Outcome:
    """Aurora and DocumentDB: the same API (RDS's), placed where the live cluster is."""
    target = check_cluster_identifier(args.to_cluster)
    deployment = command.find_deployment(aws, args)
    cluster, _ = deployment.cluster(resource)
    refuse_live(target, cluster, what="cluster", case_sensitive=False)
    service = jobs.cluster_service(resource)
    live = call(
        aws,
        service,
        "DescribeDBClusters",
        DBClusterIdentifier=cluster,
        not_found=f"cluster {cluster}",
    )["DBClusters"][0]
    placement = native_cluster_params(live)
    notes = [cluster_note(target, resource, args.env)]
    if args.point_in_time is not None:
        moment = parse_point_in_time(args.point_in_time, datetime.now(UTC))
        when: dict[str, Any] = (
            {"UseLatestRestorableTime": True} if moment is None else {"RestoreToTime": moment}
        )
        del placement["Engine"]  # not a parameter of the point-in-time restore
        if service == "docdb":  # nor, in DocumentDB's, the parameter group: set it afterwards
            group = placement.pop("DBClusterParameterGroupName", None)
            if group:
                notes.append(parameter_group_note(target, group))
        call(
            aws,
            service,
            "RestoreDBClusterToPointInTime",
            DBClusterIdentifier=target,
            SourceDBClusterIdentifier=cluster,
            not_found=f"cluster {cluster}",
            **when,
            **placement,
        )
        first, poll = _cluster_started(aws, target, service)
    elif restore_path(args.recovery_point, resource) == "native":
        notes += _fit_parameter_group(aws, service, args.recovery_point, live, placement)
        call(
            aws,
            service,
            "RestoreDBClusterFromSnapshot",
            DBClusterIdentifier=target,
            SnapshotIdentifier=args.recovery_point,
            not_found=f"cluster snapshot {args.recovery_point}",
            **placement,
        )
        first, poll = _cluster_started(aws, target, service)
    else:
        first, poll = _start_restore_job(
            aws,
            deployment,
            args.recovery_point,
            backup_resource_type(resource),
            lambda base: cluster_restore_metadata(base, target, live),
        )
    return _finish(args, aws, first, poll, target=target, notes=notes)


def parameter_group_note(cluster: str, group: str) -> str:
    return (
        f"the restored cluster has the engine's default parameter group: set the live one's "
        f"(audit log, profiler) with `aws docdb modify-db-cluster --db-cluster-identifier "
        f"{cluster} --db-cluster-parameter-group-name {group} --apply-immediately`, then "
        "reboot its instances"
    )


def _fit_parameter_group(
    aws: Aws, service: str, snapshot_id: str, live: dict[str, Any], placement: dict[str, Any]
) -> list[str]:
    """The live cluster's parameter group fits a snapshot of the same major engine version
    only (a snapshot from before a major upgrade is restored with the default group)."""
    group = placement.get("DBClusterParameterGroupName")
    if not group:
        return []
    snapshots = call(
        aws,
        service,
        "DescribeDBClusterSnapshots",
        DBClusterSnapshotIdentifier=snapshot_id,
        not_found=f"cluster snapshot {snapshot_id}",
    ).get("DBClusterSnapshots", [])
    version = str(snapshots[0].get("EngineVersion", "")) if snapshots else ""
    if not version or same_major_version(version, str(live.get("EngineVersion", version))):
        return []
    del placement["DBClusterParameterGroupName"]
    return [
        f"the snapshot is of engine version {version}, the live cluster runs "
        f"{live.get('EngineVersion')}: restored with the default parameter group of "
        f"{version} (the live one, {group}, is for another major version); give it one of "
        "its own family before use"
    ]


def _start_restore_job(
    aws: Aws, deployment: Deployment, recovery_point: str, resource_type: str, metadata: Any
) -> tuple[JobStatus, jobs.Poll]:
    """GetRecoveryPointRestoreMetadata, then StartRestoreJob with it adjusted by ``metadata``."""
    vault, role = deployment.require_vault()
    base = call(
        aws,
        "backup",
        "GetRecoveryPointRestoreMetadata",
        BackupVaultName=vault,
        RecoveryPointArn=recovery_point,
        not_found=f"recovery point {recovery_point} in vault {vault}",
    ).get("RestoreMetadata", {})
    answer = call(
        aws,
        "backup",
        "StartRestoreJob",
        RecoveryPointArn=recovery_point,
        Metadata=metadata(base),
        IamRoleArn=role,
        ResourceType=resource_type,
        IdempotencyToken=str(uuid.uuid4()),
        not_found=f"recovery point {recovery_point}",
    )
    job_id = str(answer["RestoreJobId"])

    first = JobStatus(
        kind="restore job", job_id=job_id, raw_state="PENDING", resource=recovery_point
    )
    return first, jobs.poll_started(jobs.restore_job, aws, job_id, "restore job")


def _table_started(aws: Aws, table: str) -> tuple[JobStatus, jobs.Poll]:
    first = JobStatus(kind="table restore", job_id=table, raw_state="CREATING")
    return first, lambda: jobs.dynamodb_table(aws, table)


def _cluster_started(aws: Aws, cluster: str, service: str) -> tuple[JobStatus, jobs.Poll]:
    first = JobStatus(kind="cluster restore", job_id=cluster, raw_state="creating")
    return first, lambda: jobs.rds_cluster(aws, cluster, service)


def _finish(
    args: argparse.Namespace,
    aws: Aws,
    first: JobStatus,
    poll: jobs.Poll,
    *,
    target: str,
    notes: list[str],
) -> Outcome:
    progress = jobs.stderr_progress("restore")
    progress(f"started {first.line()}")
    status = (
        jobs.wait_all([poll], interval=args.poll_seconds, progress=progress)[0]
        if args.wait
        else first
    )
    document = {"env": args.env, "region": aws.region, "target": target, "job": status.to_dict()}
    return Outcome(document, status.line(), jobs.exit_code_of([status]), notes=notes)
