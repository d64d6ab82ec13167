"""Turn the ``environments`` object of cdk.json into validated EnvironmentConfigs.

All range checks live here, before any construct is built, so that bad input
stops synth with one line naming the key instead of a jsii traceback.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from config.access import parse_access
from config.cache import parse_cache
from config.checks import LOG_RETENTION_DAYS, ingress_sources, matches
from config.document_db import parse_document_db
from config.errors import ConfigError
from config.model import (
    AuroraConfig,
    BackupConfig,
    ClusterRemovalPolicy,
    DisasterRecoveryCopyConfig,
    EnvironmentConfig,
    MigrationsConfig,
    NetworkConfig,
    StreamView,
    TableClass,
    TableConfig,
    TableEncryption,
    VaultLockConfig,
)
from config.monitoring import parse_monitoring
from config.reader import Section

ENV_NAME = r"[a-z][a-z0-9]{0,11}"
REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]"
ACCOUNT = r"[0-9]{12}"
TABLE_NAME = r"[A-Za-z0-9_.-]{3,255}"
ATTRIBUTE = r"[A-Za-z0-9_.-]{1,255}"
SSM_PREFIX = r"(/[A-Za-z0-9_.-]+)+"
VPC_ID = r"vpc-[0-9a-f]{8,17}"
KMS_ARN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+"
DB_NAME = r"[a-z][a-z0-9_]{0,62}"
VAULT_ARN = r"arn:aws[a-z-]*:backup:[a-z0-9-]+:[0-9]{12}:backup-vault:[A-Za-z0-9_.-]{2,50}"
# AWS Backup keeps recovery points at most 100 years.
MAX_BACKUP_DAYS = 36500


def load_environments(raw: object, *, selected: str | None = None) -> list[EnvironmentConfig]:
    """Validate every environment (a typo in prod fails a dev synth too), return the selected."""
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("environments: cdk.json context must define at least one environment")
    configs = [_environment(name, body) for name, body in raw.items()]
    if selected is None:
        return configs
    chosen = [c for c in configs if c.name == selected]
    if not chosen:
        allowed = ", ".join(c.name for c in configs)
        raise ConfigError(f"env: unknown environment {selected!r}; allowed: {allowed}")
    return chosen


def _environment(name: object, body: object) -> EnvironmentConfig:
    if not isinstance(name, str) or not re.fullmatch(ENV_NAME, name):
        raise ConfigError(f"environments.{name}: environment names are 1-12 lowercase a-z0-9")
    root = Section(body, f"environments.{name}")
    region = root.string("region", pattern=REGION, hint="an AWS region such as eu-west-1")
    account = root.optional_string("account", pattern=ACCOUNT, hint="a 12-digit AWS account id")
    config = EnvironmentConfig(
        name=name,
        region=region,
        account=account,
        ssm_prefix=root.string(
            "ssm_prefix",
            pattern=SSM_PREFIX,
            hint="an SSM path like /appdata/dev",
            default=f"/appdata/{name}",
        ),
        termination_protection=root.boolean("termination_protection", True),
        table=_table(root.section("table"), region),
        aurora=_aurora(root.section("aurora")),
        network=_network(root.section("network"), account),
        backup=_backup(root.section("backup"), region),
        access=parse_access(root.section("access")),
        monitoring=parse_monitoring(root.section("monitoring")),
        migrations=_migrations(root.section("migrations")),
        document_db=parse_document_db(root),
        cache=parse_cache(root),
        tags=root.string_map("tags"),
    )
    root.finish()
    return config


def _migrations(s: Section) -> MigrationsConfig:
    """Bounds: CloudFormation waits at most an hour for a custom resource; the runner's
    function times out after 14 minutes, one of which is kept for the file in flight."""
    config = MigrationsConfig(
        total_timeout_minutes=s.integer("total_timeout_minutes", 60, low=2, high=60),
        query_interval_seconds=s.integer("query_interval_seconds", 30, low=5, high=300),
        invocation_budget_seconds=s.integer("invocation_budget_seconds", 600, low=30, high=780),
    )
    total = config.total_timeout_minutes * 60
    if total % config.query_interval_seconds:
        raise s.fail(
            "query_interval_seconds",
            f"{config.query_interval_seconds} must divide total_timeout_minutes * 60 ({total}): "
            "the Provider framework retries a whole number of times",
        )
    if config.query_interval_seconds * 2 > total:
        raise s.fail("query_interval_seconds", "leaves fewer than two checks in the total timeout")
    s.finish()
    return config


def _table(s: Section, region: str) -> TableConfig:
    encryption = s.choice("encryption", TableEncryption, TableEncryption.AWS_MANAGED)
    replicas = s.strings("replica_regions", _is_region, "an AWS region such as eu-west-1")
    if region in replicas:
        raise s.fail("replica_regions", f"{region!r} is the stack's own region")
    key_arns = s.string_map("replica_key_arns")
    _check_replica_keys(s, encryption, replicas, dict(key_arns))
    config = TableConfig(
        table_name=s.string("table_name", pattern=TABLE_NAME, hint="a DynamoDB table name"),
        pitr_recovery_days=s.integer("pitr_recovery_days", 35, low=1, high=35),
        encryption=encryption,
        deletion_protection=s.boolean("deletion_protection", True),
        ttl_attribute=s.optional_string("ttl_attribute", pattern=ATTRIBUTE, hint="an attribute"),
        stream=s.optional_choice("stream", StreamView),
        contributor_insights=s.boolean("contributor_insights", False),
        table_class=s.choice("table_class", TableClass, TableClass.STANDARD),
        replica_regions=replicas,
        replica_key_arns=key_arns,
    )
    s.finish()
    return config


def _check_replica_keys(
    s: Section, encryption: TableEncryption, replicas: tuple[str, ...], keys: dict[str, str]
) -> None:
    if encryption is not TableEncryption.CUSTOMER_MANAGED:
        if keys:
            raise s.fail("replica_key_arns", "only applies with encryption customer-managed")
        return
    for region in replicas:
        arn = keys.get(region)
        if arn is None:
            raise s.fail("replica_key_arns", f"needs a KMS key ARN for replica region {region}")
        Section({region: arn}, s.key_path("replica_key_arns")).string(
            region, pattern=KMS_ARN, hint="a KMS key ARN"
        )
    extra = sorted(set(keys) - set(replicas))
    if extra:
        raise s.fail("replica_key_arns", f"{extra[0]!r} is not in replica_regions")


def _aurora(s: Section) -> AuroraConfig:
    from aws_cdk import aws_rds as rds  # noqa: PLC0415 - only synth checks versions (jsii)

    version = s.string(
        "engine_version", pattern=r"1[6-9]\.[0-9]+", hint="a version like 17.9", default="17.9"
    )
    if not hasattr(rds.AuroraPostgresEngineVersion, "VER_" + version.replace(".", "_")):
        raise s.fail("engine_version", f"{version!r} is not an aurora-postgresql 16.x/17.x version")
    low = s.number("min_capacity", 0.5, low=0, high=256, step=0.5)
    high = s.number("max_capacity", 4, low=1, high=256, step=0.5)
    if low > high:
        raise s.fail("min_capacity", f"{low:g} is greater than max_capacity {high:g}")
    pause = s.optional_integer("auto_pause_minutes", low=5, high=1440)
    cidrs, groups = ingress_sources(s)
    if pause is not None and low != 0:
        raise s.fail("auto_pause_minutes", "needs min_capacity 0 (only a cluster at 0 ACU pauses)")
    config = AuroraConfig(
        engine_version=version,
        database_name=s.string(
            "database_name",
            pattern=DB_NAME,
            hint="a lowercase PostgreSQL database name",
            default="app",
        ),
        min_capacity=low,
        max_capacity=high,
        auto_pause_minutes=pause,
        readers=s.integer("readers", 0, low=0, high=15),
        backup_retention_days=s.integer("backup_retention_days", 7, low=1, high=35),
        log_retention_days=s.one_of_ints("log_retention_days", 30, LOG_RETENTION_DAYS),
        deletion_protection=s.boolean("deletion_protection", True),
        removal_policy=s.choice(
            "removal_policy", ClusterRemovalPolicy, ClusterRemovalPolicy.SNAPSHOT
        ),
        secret_rotation_days=s.integer("secret_rotation_days", 30, low=1, high=365),
        slow_statement_ms=s.integer("slow_statement_ms", 1000, low=-1, high=3_600_000),
        ingress_cidrs=cidrs,
        ingress_security_group_ids=groups,
    )
    s.finish()
    return config


def _network(s: Section, account: str | None) -> NetworkConfig:
    vpc_id = s.optional_string("vpc_id", pattern=VPC_ID, hint="a VPC id (vpc-...)")
    if vpc_id is not None and account is None:
        raise s.fail("vpc_id", "an existing VPC needs the environment's account (for its lookup)")
    config = NetworkConfig(
        vpc_id=vpc_id,
        cidr=s.string("cidr", pattern=r"[0-9./]+", hint="an IPv4 CIDR", default="10.0.0.0/16"),
        max_azs=s.integer("max_azs", 2, low=2, high=6),
        flow_log_retention_days=s.one_of_ints("flow_log_retention_days", 90, LOG_RETENTION_DAYS),
    )
    if config.max_azs > 2 and account is None:
        raise s.fail(
            "max_azs", "more than 2 AZs needs the environment's account (for the AZ lookup)"
        )
    if not _is_vpc_cidr(config.cidr):
        raise s.fail("cidr", f"{config.cidr!r} is not a private IPv4 CIDR from /16 to /24")
    s.finish()
    return config


def _is_region(value: str) -> bool:
    return matches(REGION)(value)


def _is_vpc_cidr(value: str) -> bool:
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError:
        return False
    return network.is_private and 16 <= network.prefixlen <= 24


def _backup(s: Section, region: str) -> BackupConfig:
    if s.has("notification_emails"):
        raise s.fail(
            "notification_emails",
            "moved to monitoring.emails (the ops topic's subscribers; the same subscriptions, "
            "not re-created)",
        )
    config = BackupConfig(
        daily_retention_days=s.integer("daily_retention_days", 35, low=1, high=MAX_BACKUP_DAYS),
        weekly_retention_days=s.integer("weekly_retention_days", 90, low=1, high=MAX_BACKUP_DAYS),
        monthly_retention_days=s.integer(
            "monthly_retention_days", 365, low=1, high=MAX_BACKUP_DAYS
        ),
        vault_lock=_vault_lock(s),
        dr_copy=_dr_copy(s, region),
        restore_testing=s.boolean("restore_testing", False),
    )
    _check_lock_admits_rules(s, config)
    s.finish()
    return config


def _vault_lock(parent: Section) -> VaultLockConfig | None:
    if not parent.has("vault_lock"):
        return None
    s = parent.section("vault_lock")
    low = s.integer("min_retention_days", 7, low=1, high=MAX_BACKUP_DAYS)
    high = s.integer("max_retention_days", MAX_BACKUP_DAYS, low=1, high=MAX_BACKUP_DAYS)
    if low > high:
        raise s.fail("min_retention_days", f"{low} is greater than max_retention_days {high}")
    lock = VaultLockConfig(
        min_retention_days=low,
        max_retention_days=high,
        changeable_for_days=s.integer("changeable_for_days", 3, low=3, high=36500),
    )
    s.finish()
    return lock


def _dr_copy(parent: Section, region: str) -> DisasterRecoveryCopyConfig | None:
    if not parent.has("dr_copy"):
        return None
    s = parent.section("dr_copy")
    arn = s.string("vault_arn", pattern=VAULT_ARN, hint="a backup vault ARN")
    if arn.split(":")[3] == region:
        raise s.fail("vault_arn", f"is in {region}, the stack's own region; use another region")
    copy = DisasterRecoveryCopyConfig(
        vault_arn=arn,
        retention_days=s.integer("retention_days", 35, low=1, high=MAX_BACKUP_DAYS),
    )
    s.finish()
    return copy


def _check_lock_admits_rules(s: Section, config: BackupConfig) -> None:
    """A locked vault refuses recovery points whose retention falls outside its range."""
    lock = config.vault_lock
    if lock is None:
        return
    names = ("daily_retention_days", "weekly_retention_days", "monthly_retention_days")
    for name, days in zip(names, config.scheduled_retentions, strict=True):
        if not lock.min_retention_days <= days <= lock.max_retention_days:
            raise s.fail(
                name,
                f"{days} is outside vault_lock's {lock.min_retention_days}-"
                f"{lock.max_retention_days} days (the locked vault would refuse these backups)",
            )
