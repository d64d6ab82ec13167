"""Deployment configuration: read once in app.py, validated, then passed down typed."""

from config.access import load_access
from config.errors import ConfigError
from config.loader import load_environments
from config.model import (
    MASTER_USERNAME,
    AccessConfig,
    AuroraConfig,
    BackupConfig,
    ClusterRemovalPolicy,
    DisasterRecoveryCopyConfig,
    EnvironmentConfig,
    NetworkConfig,
    StreamView,
    TableClass,
    TableConfig,
    TableEncryption,
    VaultLockConfig,
)

__all__ = [
    "MASTER_USERNAME",
    "AccessConfig",
    "AuroraConfig",
    "BackupConfig",
    "ClusterRemovalPolicy",
    "ConfigError",
    "DisasterRecoveryCopyConfig",
    "EnvironmentConfig",
    "NetworkConfig",
    "StreamView",
    "TableClass",
    "TableConfig",
    "TableEncryption",
    "VaultLockConfig",
    "load_access",
    "load_environments",
]
