"""Typed, frozen configuration of one deployment environment.

Everything a construct needs arrives through these dataclasses, built and
validated once in app.py (see loader.py). Constructs never read context or
environment variables themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from config.alarms import ALARMS, AlarmSettings
from dbaccess.roles import DEFAULT_ROLES, RoleSet

MASTER_USERNAME = "postgres"
"""The cluster's master user: migrations run as it, so no application role may take its name."""


class TableEncryption(Enum):
    AWS_MANAGED = "aws-managed"
    CUSTOMER_MANAGED = "customer-managed"


class StreamView(Enum):
    KEYS_ONLY = "keys-only"
    NEW_IMAGE = "new-image"
    OLD_IMAGE = "old-image"
    NEW_AND_OLD_IMAGES = "new-and-old-images"


class TableClass(Enum):
    STANDARD = "standard"
    STANDARD_INFREQUENT_ACCESS = "standard-infrequent-access"


class ClusterRemovalPolicy(Enum):
    SNAPSHOT = "snapshot"
    RETAIN = "retain"


@dataclass(frozen=True, kw_only=True)
class TableConfig:
    """The AppData single table (standards: Single Table Design)."""

    table_name: str
    pitr_recovery_days: int = 35
    encryption: TableEncryption = TableEncryption.AWS_MANAGED
    deletion_protection: bool = True
    ttl_attribute: str | None = None
    stream: StreamView | None = None
    contributor_insights: bool = False
    table_class: TableClass = TableClass.STANDARD
    replica_regions: tuple[str, ...] = ()
    replica_key_arns: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class AuroraConfig:
    """The Aurora Serverless v2 PostgreSQL cluster."""

    engine_version: str = "17.9"
    database_name: str = "app"
    min_capacity: float = 0.5
    max_capacity: float = 4.0
    auto_pause_minutes: int | None = None
    readers: int = 0
    backup_retention_days: int = 7
    log_retention_days: int = 30
    deletion_protection: bool = True
    removal_policy: ClusterRemovalPolicy = ClusterRemovalPolicy.SNAPSHOT
    secret_rotation_days: int = 30
    slow_statement_ms: int = 1000
    ingress_cidrs: tuple[str, ...] = ()
    ingress_security_group_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DocumentDbConfig:
    """The optional Amazon DocumentDB 5.0 cluster (instance-based) for the standards' documents."""

    instance_class: str = "db.r6g.large"
    instances: int = 2
    backup_retention_days: int = 7
    log_retention_days: int = 30
    profiler_threshold_ms: int = 100
    deletion_protection: bool = True
    removal_policy: ClusterRemovalPolicy = ClusterRemovalPolicy.SNAPSHOT
    secret_rotation_days: int = 30
    ingress_cidrs: tuple[str, ...] = ()
    ingress_security_group_ids: tuple[str, ...] = ()


class CacheRemovalPolicy(Enum):
    DESTROY = "destroy"
    RETAIN = "retain"


@dataclass(frozen=True, kw_only=True)
class CacheConfig:
    """The optional ElastiCache Serverless (Valkey) cache of the standards' hot reads."""

    engine_version: str = "8"
    max_data_storage_gb: int = 10
    max_ecpu_per_second: int = 5000
    snapshot_retention_days: int = 1
    daily_snapshot_time: str = "04:30"
    removal_policy: CacheRemovalPolicy = CacheRemovalPolicy.DESTROY
    """Entries are rebuilt from the stores on a miss: losing the cache loses no data."""
    ingress_cidrs: tuple[str, ...] = ()
    ingress_security_group_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """Where the cluster lives: a VPC this stack creates, or an existing one."""

    vpc_id: str | None = None
    cidr: str = "10.0.0.0/16"
    max_azs: int = 2
    flow_log_retention_days: int = 90


@dataclass(frozen=True, kw_only=True)
class VaultLockConfig:
    """AWS Backup vault lock: recovery points cannot be deleted before min or kept past max."""

    min_retention_days: int
    max_retention_days: int
    changeable_for_days: int = 3


@dataclass(frozen=True, kw_only=True)
class DisasterRecoveryCopyConfig:
    """Copy every scheduled recovery point to a vault in another region."""

    vault_arn: str
    retention_days: int


@dataclass(frozen=True, kw_only=True)
class BackupConfig:
    """AWS Backup for both stores: scheduled rules, Aurora continuous backup, alerts, tests.

    The continuous (point-in-time) rule keeps aurora.backup_retention_days: AWS Backup
    takes over the cluster's own retention setting, so two numbers would fight.
    """

    daily_retention_days: int = 35
    weekly_retention_days: int = 90
    monthly_retention_days: int = 365
    vault_lock: VaultLockConfig | None = None
    dr_copy: DisasterRecoveryCopyConfig | None = None
    restore_testing: bool = False

    @property
    def scheduled_retentions(self) -> tuple[int, int, int]:
        return (self.daily_retention_days, self.weekly_retention_days, self.monthly_retention_days)


@dataclass(frozen=True, kw_only=True)
class MonitoringConfig:
    """Alarms, the ops topic's subscribers, enhanced monitoring, backup freshness."""

    emails: tuple[str, ...] = ()
    https_urls: tuple[str, ...] = ()
    enhanced_monitoring_seconds: int = 60
    backup_max_age_hours: int = 26
    alarms: tuple[tuple[str, AlarmSettings], ...] = ()
    """Every alarm of ``config.alarms.ALARMS``, with the configuration's changes applied."""

    def alarm(self, name: str) -> AlarmSettings | None:
        """The settings of alarm ``name``, or None when configuration switched it off."""
        settings = dict(self.alarms).get(name) or ALARMS[name].settings()
        return settings if settings.enabled else None


@dataclass(frozen=True, kw_only=True)
class AccessConfig:
    """Application roles: a database role and a managed IAM policy each (``access.roles``)."""

    roles: RoleSet = DEFAULT_ROLES


@dataclass(frozen=True, kw_only=True)
class MigrationsConfig:
    """How long a deploy's migration run may take (the Provider's asynchronous mode).

    Each isComplete invocation applies files for ``invocation_budget_seconds``,
    then the framework calls again after ``query_interval_seconds``, until the
    run ends or ``total_timeout_minutes`` have passed (CloudFormation's ceiling
    for a custom resource is an hour).
    """

    total_timeout_minutes: int = 60
    query_interval_seconds: int = 30
    invocation_budget_seconds: int = 600


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """One deployment environment: one DatabaseStack."""

    name: str
    region: str
    account: str | None = None
    ssm_prefix: str
    termination_protection: bool = True
    table: TableConfig
    aurora: AuroraConfig = field(default_factory=AuroraConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    backup: BackupConfig = field(default_factory=BackupConfig)
    access: AccessConfig = field(default_factory=AccessConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    migrations: MigrationsConfig = field(default_factory=MigrationsConfig)
    document_db: DocumentDbConfig | None = None
    """None: the environment has no DocumentDB cluster (its section is absent)."""
    cache: CacheConfig | None = None
    """None: the environment has no ElastiCache cache (its section is absent)."""
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def stack_name(self) -> str:
        return f"DatabaseStack-{self.name}"
