"""The ``document_db`` section: present means an Amazon DocumentDB cluster, with defaults.

DocumentDB 5.0 runs on provisioned instances of the memory-optimized (r5, r6g,
r7g, r8g from large to 24xlarge; r6gd, NVMe-backed, from xlarge to 16xlarge) and
burstable (t3, t4g medium) classes; a misspelt class would otherwise surface
only at deploy time, as a CloudFormation failure.
"""

from __future__ import annotations

from config.checks import LOG_RETENTION_DAYS, ingress_sources
from config.model import ClusterRemovalPolicy, DocumentDbConfig
from config.reader import Section

INSTANCE_CLASS = (
    r"db\.((r5|r6g|r7g|r8g)\.(large|xlarge|(2|4|8|12|16|24)xlarge)"
    r"|r6gd\.(xlarge|(2|4|8|12|16)xlarge)|(t3|t4g)\.medium)"
)


def parse_document_db(environment: Section) -> DocumentDbConfig | None:
    """The environment's ``document_db`` section, or None when it has none."""
    if not environment.has("document_db"):
        return None
    s = environment.section("document_db")
    cidrs, groups = ingress_sources(s)
    d = DocumentDbConfig()  # the defaults
    config = DocumentDbConfig(
        instance_class=s.string(
            "instance_class",
            pattern=INSTANCE_CLASS,
            hint="a DocumentDB 5.0 instance class such as db.r6g.large or db.t4g.medium",
            default=d.instance_class,
        ),
        instances=s.integer("instances", d.instances, low=1, high=16),
        backup_retention_days=s.integer(
            "backup_retention_days", d.backup_retention_days, low=1, high=35
        ),
        log_retention_days=s.one_of_ints(
            "log_retention_days", d.log_retention_days, LOG_RETENTION_DAYS
        ),
        profiler_threshold_ms=s.integer(
            "profiler_threshold_ms", d.profiler_threshold_ms, low=50, high=2_147_483_646
        ),
        deletion_protection=s.boolean("deletion_protection", d.deletion_protection),
        removal_policy=s.choice("removal_policy", ClusterRemovalPolicy, d.removal_policy),
        secret_rotation_days=s.integer(
            "secret_rotation_days", d.secret_rotation_days, low=1, high=365
        ),
        ingress_cidrs=cidrs,
        ingress_security_group_ids=groups,
    )
    s.finish()
    return config
