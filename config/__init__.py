"""Deployment configuration: read once in app.py, validated, then passed down typed."""

from config.access import load_access
from config.alarms import ALARMS, AlarmSettings
from config.compliance import ComplianceConfig, NagPack, load_compliance
from config.errors import ConfigError
from config.loader import load_environments
from config.model import (
    MASTER_USERNAME,
    AccessConfig,
    AuroraConfig,
    BackupConfig,
    CacheConfig,
    CacheRemovalPolicy,
    ClusterRemovalPolicy,
    DisasterRecoveryCopyConfig,
    DocumentDbConfig,
    EnvironmentConfig,
    MonitoringConfig,
    NetworkConfig,
    StreamView,
    TableClass,
    TableConfig,
    TableEncryption,
    VaultLockConfig,
)
from config.monitoring import load_monitoring

__all__ = [
    "ALARMS",
    "MASTER_USERNAME",
    "AccessConfig",
    "AlarmSettings",
    "AuroraConfig",
    "BackupConfig",
    "CacheConfig",
    "CacheRemovalPolicy",
    "ClusterRemovalPolicy",
    "ComplianceConfig",
    "ConfigError",
    "DisasterRecoveryCopyConfig",
    "DocumentDbConfig",
    "EnvironmentConfig",
    "MonitoringConfig",
    "NagPack",
    "NetworkConfig",
    "StreamView",
    "TableClass",
    "TableConfig",
    "TableEncryption",
    "VaultLockConfig",
    "load_access",
    "load_compliance",
    "load_environments",
    "load_monitoring",
]
