"""One function per part of ``ops status``: what the AWS APIs say, and what is unhealthy in it.

Each check makes its own calls, one after the other, and returns a `Section`;
`ops.status.report` runs the checks concurrently. The decisions (which states
are findings) sit beside the calls that read them, one check at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dbmigrate.state import read_state
from ops.aws import Aws, call
from ops.backup.listing import recovery_points, running_backup_jobs
from ops.backups import newest_good_age_hours
from ops.discovery import Deployment

FAILED_STACK_SUFFIX = "_FAILED"
FAILED_CREATE = "ROLLBACK_COMPLETE"
"""A create that failed and rolled back: nothing runs. (UPDATE_ROLLBACK_COMPLETE is a failed
update whose stack runs its previous state: not a finding.)"""
RUNNING_RESTORE_STATES = ("PENDING", "RUNNING")


@dataclass
class Section:
    """One part of the screen: its JSON, its text lines, and what in it is unhealthy."""

    name: str
    document: Any
    lines: list[str]
    findings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    aws: Aws
    deployment: Deployment
    max_backup_age_hours: int
    now: datetime
    schema_reader: Callable[[], tuple[int | None, bool]]


def stack(ctx: Context) -> Section:
    name = ctx.deployment.stack_name
    answer = call(ctx.aws, "cloudformation", "DescribeStacks", StackName=name)
    status = str(answer["Stacks"][0].get("StackStatus", "UNKNOWN"))
    reason = answer["Stacks"][0].get("StackStatusReason")
    finding = stack_finding(name, status)
    findings = [finding] if finding else []
    return Section(
        "stack",
        {"name": name, "status": status, "reason": reason},
        [f"stack    {name}: {status}"],
        findings,
    )


def stack_finding(name: str, status: str) -> str | None:
    if status.endswith(FAILED_STACK_SUFFIX) or status == FAILED_CREATE:
        return f"stack {name} is {status}"
    return None


def alarms(ctx: Context) -> Section:
    # The trailing dash: appdata-dev must not list appdata-devel-... alarms.
    prefix = (ctx.deployment.alarm_prefix or f"appdata-{ctx.deployment.env}") + "-"
    found: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while True:
        page = call(
            ctx.aws,
            "cloudwatch",
            "DescribeAlarms",
            AlarmNamePrefix=prefix,
            StateValue="ALARM",
            **token,
        )
        found += [
            {
                "name": str(alarm["AlarmName"]),
                "since": _iso(alarm.get("StateUpdatedTimestamp")),
                "reason": str(alarm.get("StateReason", "")),
            }
            for alarm in page.get("MetricAlarms", [])
            if alarm.get("StateValue") == "ALARM"  # checked again: moto ignores StateValue
        ]
        if not page.get("NextToken"):
            break
        token = {"NextToken": str(page["NextToken"])}
    lines = [
        f"alarms   {len(found)} in ALARM (prefix {prefix})"
        if found
        else f"alarms   none in ALARM (prefix {prefix})"
    ]
    lines += [f"  {a['name']} since {a['since']}: {a['reason']}" for a in found]
    findings = [f"alarm {a['name']} in ALARM since {a['since']}" for a in found]
    return Section("alarms", found, lines, findings)


def table(ctx: Context) -> Section:
    name = ctx.deployment.table_name
    described = call(
        ctx.aws, "dynamodb", "DescribeTable", TableName=name, not_found=f"table {name}"
    )["Table"]
    backups = call(
        ctx.aws, "dynamodb", "DescribeContinuousBackups", TableName=name, not_found=f"table {name}"
    )
    pitr = backups.get("ContinuousBackupsDescription", {}).get("PointInTimeRecoveryDescription", {})
    document = {
        "name": name,
        "status": described.get("TableStatus"),
        "pitr": pitr.get("PointInTimeRecoveryStatus", "DISABLED"),
        "earliest_restorable": _iso(pitr.get("EarliestRestorableDateTime")),
        "latest_restorable": _iso(pitr.get("LatestRestorableDateTime")),
    }
    findings = []
    if document["status"] != "ACTIVE":
        findings.append(f"table {name} is {document['status']}")
    if document["pitr"] != "ENABLED":
        findings.append(f"table {name} has point-in-time recovery {document['pitr']}")
    line = f"table    {name}: {document['status']}; PITR {document['pitr']}"
    if document["earliest_restorable"]:
        line += f", restorable from {document['earliest_restorable']}"
    return Section("table", document, [line], findings)


def cluster(ctx: Context) -> Section:
    identifier = ctx.deployment.cluster_id
    found = call(
        ctx.aws,
        "rds",
        "DescribeDBClusters",
        DBClusterIdentifier=identifier,
        not_found=f"cluster {identifier}",
    )["DBClusters"][0]
    scaling = found.get("ServerlessV2ScalingConfiguration") or {}
    instances = _instances(ctx, found)
    document = {
        "identifier": identifier,
        "status": found.get("Status"),
        "min_capacity": scaling.get("MinCapacity"),
        "max_capacity": scaling.get("MaxCapacity"),
        "current_capacity": _current_capacity(ctx, identifier),
        "instances": instances,
    }
    findings = (
        []
        if document["status"] == "available"
        else [f"cluster {identifier} is {document['status']}"]
    )
    findings += [
        f"instance {i['identifier']} is {i['status']}"
        for i in instances
        if i["status"] != "available"
    ]
    now = document["current_capacity"]
    lines = [
        f"cluster  {identifier}: {document['status']}; capacity {document['min_capacity']}-"
        f"{document['max_capacity']} ACU, now {'unknown' if now is None else f'{now:g} ACU'}"
    ]
    lines += [f"  {i['role']} {i['identifier']}: {i['status']}" for i in instances]
    return Section("cluster", document, lines, findings)


def schema(ctx: Context) -> Section:
    version, dirty = ctx.schema_reader()
    shown = "none" if version is None else str(version)
    hint = f"schema is DIRTY at version {shown}: see `python -m ops migrate version`"
    findings = [hint] if dirty else []
    state = "DIRTY" if dirty else "clean"
    return Section(
        "schema",
        {"version": version, "dirty": dirty},
        [f"schema   version {shown}, {state}"],
        findings,
    )


def backups(ctx: Context) -> Section:
    deployment = ctx.deployment
    if not deployment.vault_name:
        return Section(
            "backups",
            None,
            ["backups  no AWS Backup vault published"],
            [f"{deployment.stack_name} publishes no backup vault"],
        )
    items = recovery_points(ctx.aws, deployment, deployment.vault_name)
    running = running_backup_jobs(ctx.aws, deployment, deployment.vault_name)
    restores = _running_restores(ctx)
    document: dict[str, Any] = {"max_age_hours": ctx.max_backup_age_hours, "resources": {}}
    lines, findings = [], []
    for resource in deployment.resources:
        age = newest_good_age_hours(items, resource, ctx.now)
        newest = (ctx.now - timedelta(hours=age)) if age is not None else None
        document["resources"][resource] = {"newest": _iso(newest), "age_hours": age}
        label = deployment.label(resource)
        if age is None:
            lines.append(f"backups  {label}: no completed recovery point")
            findings.append(f"{label} has no completed backup")
            continue
        lines.append(f"backups  {label}: newest {_iso(newest)} ({age:.1f} h ago)")
        if age > ctx.max_backup_age_hours:
            findings.append(
                f"{label}'s newest backup is {age:.1f} h old (allowed: "
                f"{ctx.max_backup_age_hours} h, monitoring.backup_max_age_hours)"
            )
    document["running"] = [job.to_dict() for job in running] + restores
    lines.append(
        f"jobs     {len(document['running'])} running"
        if document["running"]
        else "jobs     none running"
    )
    lines += [f"  {job.line()}" for job in running]
    lines += [f"  restore job {r['id']}: {r['state']} ({r['resource']})" for r in restores]
    return Section("backups", document, lines, findings)


# -- helpers ------------------------------------------------------------------------------


def _instances(ctx: Context, found: dict[str, Any]) -> list[dict[str, Any]]:
    """The cluster's members and their status, in one DescribeDBInstances call."""
    answer = call(
        ctx.aws,
        "rds",
        "DescribeDBInstances",
        Filters=[{"Name": "db-cluster-id", "Values": [ctx.deployment.cluster_id]}],
    )
    status = {
        str(i["DBInstanceIdentifier"]): i.get("DBInstanceStatus")
        for i in answer.get("DBInstances", [])
    }
    return [
        {
            "identifier": str(member["DBInstanceIdentifier"]),
            "role": "writer" if member.get("IsClusterWriter") else "reader",
            "status": status.get(str(member["DBInstanceIdentifier"]), "missing"),
        }
        for member in found.get("DBClusterMembers", [])
    ]


def _current_capacity(ctx: Context, identifier: str) -> float | None:
    """The newest 1-minute ServerlessDatabaseCapacity average of the last 10 minutes."""
    answer = call(
        ctx.aws,
        "cloudwatch",
        "GetMetricStatistics",
        Namespace="AWS/RDS",
        MetricName="ServerlessDatabaseCapacity",
        Dimensions=[{"Name": "DBClusterIdentifier", "Value": identifier}],
        StartTime=ctx.now - timedelta(minutes=10),
        EndTime=ctx.now + timedelta(minutes=1),
        Period=60,
        Statistics=["Average"],
    )
    points = sorted(answer.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return float(points[-1]["Average"]) if points else None


def _running_restores(ctx: Context) -> list[dict[str, Any]]:
    ours = {ctx.deployment.table_arn, ctx.deployment.cluster_arn}
    found = []
    for status in RUNNING_RESTORE_STATES:
        page = call(ctx.aws, "backup", "ListRestoreJobs", ByStatus=status)
        found += [
            {
                "kind": "restore job",
                "id": str(job["RestoreJobId"]),
                "state": status,
                "resource": str(job.get("SourceResourceArn") or ""),
            }
            for job in page.get("RestoreJobs", [])
            if job.get("SourceResourceArn") in ours
        ]
    return found


def read_schema(transport: Any) -> tuple[int | None, bool]:
    """``migrate version``'s read: no schema_migrations table means no version."""
    rows = transport.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not (rows and rows[0][0]):
        return None, False
    state = read_state(transport)
    return state.version, state.dirty


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)
