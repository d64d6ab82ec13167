"""The ``cache`` section: present means an ElastiCache Serverless (Valkey) cache, with defaults.

The limits bound what the cache may cost and hold: ElastiCache Serverless
scales within them and throttles beyond (the alarms watch both). Its snapshot
window is a UTC time of day; retention is in days.
"""

from __future__ import annotations

from config.checks import ingress_sources
from config.model import CacheConfig, CacheRemovalPolicy
from config.reader import Section

SNAPSHOT_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]"


def parse_cache(environment: Section) -> CacheConfig | None:
    """The environment's ``cache`` section, or None when it has none."""
    if not environment.has("cache"):
        return None
    s = environment.section("cache")
    cidrs, groups = ingress_sources(s)
    d = CacheConfig()  # the defaults
    config = CacheConfig(
        engine_version=s.string(
            "engine_version",
            pattern=r"7|8",
            hint="a Valkey major version (7 or 8)",
            default=d.engine_version,
        ),
        max_data_storage_gb=s.integer(
            "max_data_storage_gb", d.max_data_storage_gb, low=1, high=5000
        ),
        max_ecpu_per_second=s.integer(
            "max_ecpu_per_second", d.max_ecpu_per_second, low=1000, high=15_000_000
        ),
        snapshot_retention_days=s.integer(
            "snapshot_retention_days", d.snapshot_retention_days, low=1, high=35
        ),
        daily_snapshot_time=s.string(
            "daily_snapshot_time",
            pattern=SNAPSHOT_TIME,
            hint="a UTC time HH:MM",
            default=d.daily_snapshot_time,
        ),
        removal_policy=s.choice("removal_policy", CacheRemovalPolicy, d.removal_policy),
        ingress_cidrs=cidrs,
        ingress_security_group_ids=groups,
    )
    s.finish()
    return config
