"""Deployment configuration: read once in app.py, validated, then passed down typed."""

from config.errors import ConfigError
from config.loader import load_environments
from config.model import (
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
    "load_environments",
]
