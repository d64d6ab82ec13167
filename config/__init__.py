"""Deployment configuration: read once in app.py, validated, then passed down typed."""

from config.errors import ConfigError
from config.loader import load_environments
from config.model import (
    AuroraConfig,
    ClusterRemovalPolicy,
    EnvironmentConfig,
    NetworkConfig,
    StreamView,
    TableClass,
    TableConfig,
    TableEncryption,
)

__all__ = [
    "AuroraConfig",
    "ClusterRemovalPolicy",
    "ConfigError",
    "EnvironmentConfig",
    "NetworkConfig",
    "StreamView",
    "TableClass",
    "TableConfig",
    "TableEncryption",
    "load_environments",
]
