"""Pure decisions of the backup and restore commands: names, restore paths, metadata, ages.

Nothing here calls AWS, so every rule is tested without an emulator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ops import exit_codes
from ops.errors import OpsError

Resource = Literal["dynamodb", "aurora", "documentdb"]
RESOURCES: tuple[Resource, ...] = ("dynamodb", "aurora")
"""What every DatabaseStack has; ``documentdb`` only where configured (`Deployment.resources`)."""
CLUSTERS: tuple[Resource, ...] = ("aurora", "documentdb")
"""The resources restored by cluster identifier, from RDS-style snapshots."""
_NAMES = {
    "dynamodb": ("DynamoDB table", "DynamoDB"),
    "aurora": ("Aurora cluster", "Aurora"),
    "documentdb": ("DocumentDB cluster", "DocumentDB"),
}


def display_name(resource: Resource) -> str:
    """``Aurora cluster``: how lines name the resource."""
    return _NAMES[resource][0]


def backup_resource_type(resource: Resource) -> str:
    """AWS Backup's ResourceType for StartRestoreJob (``DynamoDB``, ``Aurora``, ``DocumentDB``)."""
    return _NAMES[resource][1]


RUNNING, COMPLETED, FAILED = "RUNNING", "COMPLETED", "FAILED"
"""Normalized job states; the service's own state is kept alongside."""
_FAILED_STATES = frozenset(
    {"FAILED", "ABORTED", "ABORTING", "EXPIRED", "PARTIAL", "DELETED", "DELETING", "ERROR"}
)
_COMPLETED_STATES = frozenset({"COMPLETED", "AVAILABLE", "ACTIVE"})

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_RDS_IDENTIFIER = re.compile(r"[A-Za-z](?:-?[A-Za-z0-9])*")
_ARN = re.compile(r"arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):\d*:(?P<rest>.+)")
_UUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")

RestorePath = Literal["aws-backup", "native"]

Clock = Callable[[], datetime]
"""Where ``backup start`` and ``backup list`` read the time: a parameter, so tests can fix it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def native_backup_name(env: str, now: datetime, resource: Resource = "aurora") -> str:
    """``appdata-<env>-YYYYMMDD-HHMMSS`` (UTC): a valid DynamoDB backup name and RDS snapshot id.

    A DocumentDB snapshot is ``appdata-<env>-documentdb-...``: RDS and DocumentDB share one
    namespace of cluster snapshot identifiers, and ``--target all`` snapshots both at once."""
    middle = "documentdb-" if resource == "documentdb" else ""
    name = f"appdata-{env}-{middle}{now.astimezone(UTC):%Y%m%d-%H%M%S}"
    check_cluster_identifier(name, what="snapshot identifier", limit=255)
    return name


def check_table_name(name: str) -> str:
    if not _TABLE_NAME.fullmatch(name):
        raise OpsError(
            f"invalid table name {name!r}: 3-255 characters of A-Z a-z 0-9 _ . -", exit_codes.USAGE
        )
    return name


def check_cluster_identifier(name: str, *, what: str = "cluster id", limit: int = 63) -> str:
    """RDS rules: a letter first, letters/digits/hyphens, no '--', no trailing '-', length."""
    if len(name) > limit or not _RDS_IDENTIFIER.fullmatch(name):
        raise OpsError(
            f"invalid {what} {name!r}: 1-{limit} letters, digits or hyphens, starting with a "
            "letter, no '--', not ending with '-'",
            exit_codes.USAGE,
        )
    return name


def refuse_live(target: str, live: str, *, what: str, case_sensitive: bool) -> None:
    """Never restore onto the live resource: the target must be a new name."""
    same = target == live if case_sensitive else target.lower() == live.lower()
    if same:
        raise OpsError(
            f"refusing to restore onto the live {what} {live!r}: choose a new name "
            "(restores always create a new resource)",
            exit_codes.USAGE,
        )


def restore_path(recovery_point: str, resource: Resource) -> RestorePath:
    """Which API restores this recovery point: AWS Backup StartRestoreJob, or the service's own.

    * ``arn:aws:backup:...:recovery-point:...``: an AWS Backup recovery point
      (DynamoDB advanced backups, Aurora continuous backups) -> AWS Backup.
    * ``arn:aws:rds:...:cluster-snapshot:awsbackup:...``: a snapshot made by
      AWS Backup -> AWS Backup.
    * ``arn:aws:dynamodb:...:table/T/backup/...``: a DynamoDB-managed backup
      (CreateBackup, or AWS Backup without advanced features) -> RestoreTableFromBackup.
    * ``arn:aws:rds:...:cluster-snapshot:NAME`` or a bare snapshot identifier
      (Aurora and DocumentDB) -> RestoreDBClusterFromSnapshot.
    """
    match = _ARN.fullmatch(recovery_point)
    if match is None:
        if resource in CLUSTERS and _RDS_IDENTIFIER.fullmatch(recovery_point):
            return "native"
        raise OpsError(
            f"not a recovery point ARN: {recovery_point!r} (see `python -m ops backup list`)",
            exit_codes.USAGE,
        )
    service, rest = match["service"], match["rest"]
    if service == "backup" and rest.startswith("recovery-point:"):
        return "aws-backup"
    if resource == "dynamodb" and service == "dynamodb" and "/backup/" in rest:
        return "native"
    if resource in CLUSTERS and service == "rds" and rest.startswith("cluster-snapshot:"):
        return "aws-backup" if rest.startswith("cluster-snapshot:awsbackup:") else "native"
    raise OpsError(
        f"{recovery_point} is not a recovery point of the {display_name(resource)}",
        exit_codes.USAGE,
    )


def dynamodb_restore_metadata(base: Mapping[str, str], target_table: str) -> dict[str, str]:
    """StartRestoreJob metadata: the recovery point's own, with the new table name."""
    metadata = dict(base)
    metadata["targetTableName"] = target_table
    return metadata


def cluster_restore_metadata(
    base: Mapping[str, str], target_cluster: str, live_cluster: Mapping[str, Any]
) -> dict[str, str]:
    """StartRestoreJob metadata of an Aurora or DocumentDB recovery point: its own, with the
    new identifier.

    Network placement missing from the recovery point's metadata is taken from
    the live cluster (its subnet group and security groups), so the restored
    cluster lands where the application can reach it.
    """
    metadata = dict(base)
    metadata["DBClusterIdentifier"] = target_cluster
    native = native_cluster_params(live_cluster)
    metadata.setdefault("Engine", str(native["Engine"]))
    if "DBSubnetGroupName" in native:
        metadata.setdefault("DBSubnetGroupName", str(native["DBSubnetGroupName"]))
    if native.get("VpcSecurityGroupIds"):
        groups = native["VpcSecurityGroupIds"]
        metadata.setdefault("VpcSecurityGroupIds", "[" + ",".join(f'"{g}"' for g in groups) + "]")
    return metadata


def native_cluster_params(live_cluster: Mapping[str, Any]) -> dict[str, Any]:
    """Restore parameters copied from the live cluster (a DescribeDBClusters item of RDS or
    DocumentDB): where it is reachable from, the logs it exports, and its parameter group
    (the stack's: Aurora's forces TLS, DocumentDB's turns on the audit log and the profiler,
    which the engines' default groups do not)."""
    params: dict[str, Any] = {"Engine": live_cluster["Engine"]}
    if live_cluster.get("DBSubnetGroup"):
        params["DBSubnetGroupName"] = live_cluster["DBSubnetGroup"]
    if live_cluster.get("DBClusterParameterGroup"):
        params["DBClusterParameterGroupName"] = live_cluster["DBClusterParameterGroup"]
    if live_cluster.get("EnabledCloudwatchLogsExports"):
        params["EnableCloudwatchLogsExports"] = list(live_cluster["EnabledCloudwatchLogsExports"])
    groups = [g["VpcSecurityGroupId"] for g in live_cluster.get("VpcSecurityGroups", [])]
    if groups:
        params["VpcSecurityGroupIds"] = groups
    scaling = live_cluster.get("ServerlessV2ScalingConfiguration")
    if scaling:
        params["ServerlessV2ScalingConfiguration"] = {
            key: scaling[key] for key in ("MinCapacity", "MaxCapacity") if key in scaling
        }
    return params


def same_major_version(one: str, other: str) -> bool:
    """``16.4`` and ``16.9``, ``5.0.0`` and ``5.0.1``: one parameter group family fits both."""
    return one.partition(".")[0] == other.partition(".")[0]


def parse_point_in_time(text: str, now: datetime) -> datetime | None:
    """ISO 8601 with a zone (``2026-11-14T03:00:00Z``) -> aware datetime; ``latest`` -> None."""
    if text == "latest":
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise OpsError(
            f"invalid --point-in-time {text!r}: use ISO 8601 like 2026-11-14T03:00:00Z, or latest",
            exit_codes.USAGE,
        ) from exc
    if moment.tzinfo is None:
        raise OpsError(
            f"--point-in-time {text!r} has no time zone: add Z (UTC) or an offset like +01:00",
            exit_codes.USAGE,
        )
    if moment > now:
        raise OpsError(f"--point-in-time {text!r} is in the future", exit_codes.USAGE)
    return moment.astimezone(UTC)


def classify_job_id(job_id: str) -> Literal["aws-backup", "dynamodb-backup", "rds-snapshot"]:
    """What ``backup status`` should ask about this id."""
    match = _ARN.fullmatch(job_id)
    if match and match["service"] == "dynamodb" and "/backup/" in match["rest"]:
        return "dynamodb-backup"
    if match and match["service"] == "rds" and match["rest"].startswith("cluster-snapshot:"):
        return "rds-snapshot"
    if match is None and not _UUID.fullmatch(job_id) and _RDS_IDENTIFIER.fullmatch(job_id):
        return "rds-snapshot"
    return "aws-backup"


def normalize_state(raw: str) -> str:
    """RUNNING, COMPLETED or FAILED from any service's status word."""
    upper = raw.upper().replace("-", "_")
    if upper in _COMPLETED_STATES:
        return COMPLETED
    if upper in _FAILED_STATES or upper.startswith(("FAILED", "INCOMPATIBLE", "INACCESSIBLE")):
        return FAILED
    return RUNNING


@dataclass(frozen=True)
class JobStatus:
    """One job or native operation, as ``status`` and ``--wait`` show it."""

    kind: str
    job_id: str
    raw_state: str
    resource: str = ""
    percent: str | None = None
    message: str | None = None
    result: str | None = None

    @property
    def state(self) -> str:
        return normalize_state(self.raw_state)

    @property
    def done(self) -> bool:
        return self.state != RUNNING

    def line(self) -> str:
        text = f"{self.kind} {self.job_id}: {self.raw_state}"
        if self.percent and self.state == RUNNING:
            text += f" ({self.percent}%)"
        if self.result:
            text += f" -> {self.result}"
        if self.message:
            text += f": {self.message}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.job_id,
            "state": self.state,
            "service_state": self.raw_state,
            "resource": self.resource,
            "percent_done": self.percent,
            "message": self.message,
            "result": self.result,
        }


@dataclass(frozen=True)
class BackupItem:
    """One recovery point, native backup or snapshot of the table or the cluster."""

    resource: Resource
    source: Literal["aws-backup", "native"]
    arn: str
    created: datetime
    status: str
    size_bytes: int | None = None

    @property
    def good(self) -> bool:
        return normalize_state(self.status) == COMPLETED

    @property
    def continuous(self) -> bool:
        """A continuous (point-in-time) recovery point: its creation date is when it began."""
        return ":recovery-point:continuous:" in self.arn

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "source": self.source,
            "arn": self.arn,
            "created": self.created.astimezone(UTC).isoformat(),
            "status": self.status,
            "good": self.good,
            "continuous": self.continuous,
            "size_bytes": self.size_bytes,
        }


def newest_good_age_hours(
    items: Iterable[BackupItem], resource: Resource, now: datetime
) -> float | None:
    """Hours since the newest good snapshot-type backup of ``resource`` (None: there is none).

    Continuous recovery points are left out: they are created once and then
    follow the resource, so their creation date says nothing about freshness.
    """
    times = [
        item.created
        for item in items
        if item.resource == resource and item.good and not item.continuous
    ]
    if not times:
        return None
    return round((now - max(times)).total_seconds() / 3600, 1)


def age_line(resource: Resource, hours: float | None) -> str:
    name = display_name(resource)
    if hours is None:
        return f"{name}: no good backup found"
    return f"{name}: newest good backup is {hours:g} hours old"
