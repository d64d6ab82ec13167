"""ServerlessCache: ElastiCache Serverless (Valkey) for the standards' hot reads, when configured.

In the database subnets, behind its own security group that admits only the
configured sources on the primary (6379) and reader (6380) ports. TLS in
transit is always on for a serverless cache; at rest it is encrypted with its
own customer-managed key (retained: it decrypts the snapshots). Data storage and
ECPU are capped by configuration; a daily snapshot is kept for
``snapshot_retention_days``.

ElastiCache requires the cache's name: ``appdata-<env>``, unique per account
and region as the environments are. A named resource cannot be replaced by
CloudFormation, so a change to a create-only property (subnets, key) fails the
deploy (the README says how to move it). Removal is DESTROY unless configured:
every entry is rebuilt from the stores on a miss (`appdata.cache`).

No IAM authentication: clients connect with TLS and the default user, and reach
is the security group's. IAM authentication would need an ElastiCache user
(``AuthenticationMode: iam``) and a user group on the cache, an
``elasticache:Connect`` grant on both for each application, and clients that
sign a token every 15 minutes and reconnect before 12 hours.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from constructs import Construct

from config import CacheConfig
from data_constructs.retention import removal_policy

PRIMARY_PORT = 6379
READER_PORT = 6380


class ServerlessCache(Construct):
    """Exposes the cache (L1: ElastiCache Serverless has no L2), its name, key and group."""

    cache: elasticache.CfnServerlessCache
    cache_name: str
    key: kms.Key
    security_group: ec2.SecurityGroup

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: CacheConfig,
        environment_name: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cache_name = f"appdata-{environment_name}"
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the ElastiCache Serverless cache and its snapshots",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="ElastiCache Serverless cache: the configured sources only",
            allow_all_outbound=False,
        )
        self._allow_ingress(config)
        self.cache = elasticache.CfnServerlessCache(
            self,
            "Cache",
            engine="valkey",
            major_engine_version=config.engine_version,
            serverless_cache_name=self.cache_name,
            description=f"AppData hot reads ({environment_name}): profiles, users, preferences",
            cache_usage_limits=elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
                data_storage=elasticache.CfnServerlessCache.DataStorageProperty(
                    unit="GB", maximum=config.max_data_storage_gb
                ),
                ecpu_per_second=elasticache.CfnServerlessCache.ECPUPerSecondProperty(
                    maximum=config.max_ecpu_per_second
                ),
            ),
            kms_key_id=self.key.key_arn,
            security_group_ids=[self.security_group.security_group_id],
            subnet_ids=vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids,
            snapshot_retention_limit=config.snapshot_retention_days,
            daily_snapshot_time=config.daily_snapshot_time,
        )
        self.cache.apply_removal_policy(removal_policy(config.removal_policy))

    def _allow_ingress(self, config: CacheConfig) -> None:
        peers = [(ec2.Peer.ipv4(cidr), cidr) for cidr in config.ingress_cidrs] + [
            (ec2.Peer.security_group_id(group), group)
            for group in config.ingress_security_group_ids
        ]
        for peer, source in peers:
            for port, endpoint in ((PRIMARY_PORT, "primary"), (READER_PORT, "reader")):
                self.security_group.add_ingress_rule(
                    peer, ec2.Port.tcp(port), f"Cache {endpoint} endpoint from {source}"
                )
