"""AuroraCluster: Aurora Serverless v2 PostgreSQL, encrypted, TLS-only, Data API on.

One customer-managed KMS key encrypts storage, the credentials secret and
Performance Insights, so that revoking it cuts every copy of the data at once.
The secret rotates through the single-user rotation application inside the VPC.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from constructs import Construct

from config import MASTER_USERNAME, AuroraConfig
from data_constructs.nag import acknowledge, acknowledge_compliance
from data_constructs.ports import rotation_security_group, write_literal_ports
from data_constructs.retention import removal_policy, retention_days
from data_constructs.service_log import ServiceLogEncryption

# The construct id of CDK's LogRetention singleton function (fixed in aws-cdk-lib).
_LOG_RETENTION = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a"
POSTGRES_PORT = 5432
"""The cluster's port, written as a number wherever a rule names it (nag cannot read a token)."""


class AuroraCluster(Construct):
    """Exposes the cluster, its key and secret, for grants, outputs and the migration runner."""

    cluster: rds.DatabaseCluster
    key: kms.Key
    secret: rds.DatabaseSecret

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AuroraConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None,
        enhanced_monitoring_seconds: int,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the Aurora cluster storage, its secret and Performance Insights",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        credentials = rds.DatabaseSecret(
            self, "Secret", username=MASTER_USERNAME, encryption_key=self.key
        )
        credentials.apply_removal_policy(RemovalPolicy.RETAIN)
        engine = rds.DatabaseClusterEngine.aurora_postgres(version=_engine_version(config))
        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            engine=engine,
            vpc=vpc,
            vpc_subnets=subnets,
            port=POSTGRES_PORT,
            writer=self._instance("Writer"),
            readers=[self._instance(f"Reader{n}", n == 1) for n in range(1, config.readers + 1)],
            serverless_v2_min_capacity=config.min_capacity,
            serverless_v2_max_capacity=config.max_capacity,
            serverless_v2_auto_pause_duration=(
                Duration.minutes(config.auto_pause_minutes) if config.auto_pause_minutes else None
            ),
            default_database_name=config.database_name,
            credentials=rds.Credentials.from_secret(credentials),
            storage_encrypted=True,
            storage_encryption_key=self.key,
            enable_data_api=True,
            iam_authentication=True,
            deletion_protection=config.deletion_protection,
            removal_policy=removal_policy(config.removal_policy),
            backup=rds.BackupProps(retention=Duration.days(config.backup_retention_days)),
            copy_tags_to_snapshot=True,
            cloudwatch_logs_exports=["postgresql"],
            cloudwatch_logs_retention=retention_days(config.log_retention_days),
            database_insights_mode=rds.DatabaseInsightsMode.STANDARD,
            monitoring_interval=_interval(enhanced_monitoring_seconds),
            enable_performance_insights=True,
            performance_insight_encryption_key=self.key,
            performance_insight_retention=rds.PerformanceInsightRetention.DEFAULT,
            parameter_group=rds.ParameterGroup(
                self,
                "ParameterGroup",
                engine=engine,
                description="TLS only; slow statements logged",
                parameters={
                    "rds.force_ssl": "1",
                    "log_min_duration_statement": str(config.slow_statement_ms),
                },
            ),
        )
        self.secret = credentials
        self._rotate_secret(config, vpc, subnets, secrets_manager_endpoint)
        self._allow_ingress(config)
        write_literal_ports(self.cluster.connections, POSTGRES_PORT)
        ServiceLogEncryption(
            self,
            "PostgresqlLog",
            log_group="/aws/rds/cluster/{}/postgresql",
            cluster=self._cfn_cluster(),
            after=self.cluster.node.find_child("LogRetentionpostgresql"),
            key=log_key,
            call_log_days=config.log_retention_days,
        )
        self._acknowledge_log_retention()
        self._acknowledge_monitoring_role()
        self._acknowledge_instances_backup()
        if not enhanced_monitoring_seconds:
            for instance in self._instances():
                acknowledge_compliance(
                    instance,
                    "RDSEnhancedMonitoringEnabled",
                    "Enhanced monitoring is off because this environment's configuration says so "
                    "(monitoring.enhanced_monitoring_seconds=0); CloudWatch's RDS metrics remain.",
                )
        if not config.deletion_protection:
            reason = (
                "Deletion protection is off because this environment's configuration says "
                "so (aurora.deletion_protection=false, for disposable environments); the removal "
                "policy still takes a final snapshot."
            )
            acknowledge(self.cluster, "AwsSolutions-RDS10", reason)
            acknowledge_compliance(
                self._cfn_cluster(),
                "RDSInstanceDeletionProtectionEnabled",
                reason,
            )

    def _instance(self, name: str, scale_with_writer: bool = False) -> rds.IClusterInstance:
        """Serverless v2 instance; Performance Insights repeated here to match the cluster."""
        return rds.ClusterInstance.serverless_v2(
            name,
            scale_with_writer=scale_with_writer or None,
            enable_performance_insights=True,
            performance_insight_encryption_key=self.key,
            performance_insight_retention=rds.PerformanceInsightRetention.DEFAULT,
        )

    def _rotate_secret(
        self,
        config: AuroraConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        endpoint: ec2.IInterfaceVpcEndpoint | None,
    ) -> None:
        """Rotation Lambda in the VPC; only it may reach the Secrets Manager endpoint."""
        group = rotation_security_group(
            self,
            vpc=vpc,
            endpoint=endpoint,
            description="Secret rotation Lambda: to the cluster and the Secrets Manager endpoint",
            endpoint_rule="Secret rotation Lambda",
        )
        self.cluster.add_rotation_single_user(
            automatically_after=Duration.days(config.secret_rotation_days),
            endpoint=endpoint,
            vpc_subnets=subnets,
            security_group=group,
        )

    def _allow_ingress(self, config: AuroraConfig) -> None:
        """Rules from configured sources; `write_literal_ports` then writes their port as a number
        (through the default port they stay separate rule resources, as deployed)."""
        for cidr in config.ingress_cidrs:
            self.cluster.connections.allow_default_port_from(
                ec2.Peer.ipv4(cidr), f"PostgreSQL from {cidr} (configuration)"
            )
        for group_id in config.ingress_security_group_ids:
            self.cluster.connections.allow_default_port_from(
                ec2.Peer.security_group_id(group_id), f"PostgreSQL from {group_id} (configuration)"
            )

    def _cfn_cluster(self) -> rds.CfnDBCluster:
        child = self.cluster.node.default_child
        assert isinstance(child, rds.CfnDBCluster)
        return child

    def _instances(self) -> list[rds.CfnDBInstance]:
        return [c for c in self.cluster.node.find_all() if isinstance(c, rds.CfnDBInstance)]

    def _acknowledge_instances_backup(self) -> None:
        """AWS Backup selects the cluster (tests/stack/test_backups.py asserts it); the packs'
        RDSInBackupPlan looks for the instances, which Aurora backs up only as the cluster."""
        for instance in self._instances():
            acknowledge_compliance(
                instance,
                "RDSInBackupPlan",
                "An Aurora instance has no backups of its own: AWS Backup's plans select "
                "this instance's cluster (daily, weekly, monthly and continuous rules).",
            )

    def _acknowledge_monitoring_role(self) -> None:
        """The role CDK makes for enhanced monitoring, when it is on."""
        role = self.cluster.node.try_find_child("MonitoringRole")
        if role is None:
            return
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonRDSEnhancedMonitoringRole]",
            "RDS enhanced monitoring's own role: only monitoring.rds.amazonaws.com assumes it, "
            "and AWS's policy only lets it write the RDSOSMetrics log group.",
        )

    def _acknowledge_log_retention(self) -> None:
        """CDK's LogRetention singleton sets retention on the cluster's RDS-made log group."""
        singleton = Stack.of(self).node.try_find_child(_LOG_RETENTION)
        if singleton is None:
            return
        acknowledge(
            singleton,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's LogRetention function writes only its own logs with the basic execution role.",
        )
        acknowledge(
            singleton,
            "AwsSolutions-IAM5[Resource::*]",
            "CDK's LogRetention function sets retention on the log groups RDS and DocumentDB "
            "create themselves (/aws/rds/cluster/<id>/postgresql; /aws/docdb/<id>/audit and "
            "/profiler where DocumentDB is configured), named only at deploy time.",
        )
        acknowledge_compliance(
            singleton.node.find_child("ServiceRole").node.find_child("DefaultPolicy"),
            "IAMNoInlinePolicy",
            "CDK's LogRetention role: its one inline policy (logs:PutRetentionPolicy and "
            "DeleteRetentionPolicy) belongs to that role alone and goes with it.",
        )


def _interval(seconds: int) -> Duration | None:
    """Enhanced monitoring's OS metrics every ``seconds`` (0: off)."""
    return Duration.seconds(seconds) if seconds else None


def _engine_version(config: AuroraConfig) -> rds.AuroraPostgresEngineVersion:
    version: rds.AuroraPostgresEngineVersion = getattr(
        rds.AuroraPostgresEngineVersion, "VER_" + config.engine_version.replace(".", "_")
    )
    return version
