"""DocumentDbCluster: Amazon DocumentDB 5.0 for the standards' documents, when configured.

Instance-based (the instance class and count come from ``document_db``), in the
database subnets, reachable only from the configured sources. One
customer-managed key encrypts the storage and the master secret, as Aurora's
does. The cluster parameter group enforces TLS and turns the audit log and the
profiler on; both logs go to CloudWatch with a retention and the log key. The
master secret rotates through the MongoDB single-user rotation application
inside the VPC, like Aurora's.

The key and the secret are retained; the cluster is snapshotted or retained as
configured, and a retained cluster keeps its subnet group and security group.
Its instances hold no data of their own (DocumentDB's storage is the
cluster's), so they are deleted with it.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_docdb as docdb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from config import ClusterRemovalPolicy, DocumentDbConfig
from data_constructs.nag import acknowledge
from data_constructs.ports import rotation_security_group, write_literal_ports
from data_constructs.retention import removal_policy, retention_days
from data_constructs.service_log import ServiceLogEncryption

DOCUMENTDB_PORT = 27017
MASTER_USERNAME = "docdbadmin"
"""DocumentDB reserves admin, root and serviceadmin."""
ENGINE_VERSION = "5.0.0"
# Characters a MongoDB connection string would need escaped, kept out of generated passwords.
_EXCLUDED = " %+~`#$&*()|[]{}:;<>?!'/@\"\\"
_LOGS = ("audit", "profiler")


class DocumentDbCluster(Construct):
    """Exposes the cluster, its ARN (for AWS Backup), key and master secret."""

    cluster: docdb.DatabaseCluster
    cluster_arn: str
    key: kms.Key
    secret: secretsmanager.ISecret

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DocumentDbConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the DocumentDB cluster storage and its master secret",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # A retained cluster keeps its network: deleting the subnet group it still uses would
        # fail the stack's deletion, and without its security group nothing could reach it.
        network_policy = (
            RemovalPolicy.RETAIN
            if config.removal_policy is ClusterRemovalPolicy.RETAIN
            else RemovalPolicy.DESTROY
        )
        self.cluster = docdb.DatabaseCluster(
            self,
            "Cluster",
            engine_version=ENGINE_VERSION,
            master_user=docdb.Login(
                username=MASTER_USERNAME, kms_key=self.key, exclude_characters=_EXCLUDED
            ),
            instance_type=ec2.InstanceType(config.instance_class.removeprefix("db.")),
            instances=config.instances,
            vpc=vpc,
            vpc_subnets=subnets,
            port=DOCUMENTDB_PORT,
            parameter_group=docdb.ClusterParameterGroup(
                self,
                "ParameterGroup",
                family="docdb5.0",
                description="TLS required; audit log and profiler on",
                parameters={
                    "tls": "enabled",
                    "audit_logs": "enabled",
                    "profiler": "enabled",
                    "profiler_threshold_ms": str(config.profiler_threshold_ms),
                },
            ),
            storage_encrypted=True,
            kms_key=self.key,
            backup=docdb.BackupProps(retention=Duration.days(config.backup_retention_days)),
            copy_tags_to_snapshot=True,
            deletion_protection=config.deletion_protection,
            removal_policy=removal_policy(config.removal_policy),
            instance_removal_policy=RemovalPolicy.DESTROY,
            security_group_removal_policy=network_policy,
            export_audit_logs_to_cloud_watch=True,
            export_profiler_logs_to_cloud_watch=True,
            cloud_watch_logs_retention=retention_days(config.log_retention_days),
        )
        subnets_group = self.cluster.node.find_child("Subnets")
        assert isinstance(subnets_group, docdb.CfnDBSubnetGroup)
        subnets_group.apply_removal_policy(network_policy)
        # The cluster makes the secret from master_user; its `secret` is the attachment.
        credentials = self.cluster.node.find_child("Secret")
        assert isinstance(credentials, docdb.DatabaseSecret) and self.cluster.secret is not None
        credentials.apply_removal_policy(RemovalPolicy.RETAIN)
        self.secret = self.cluster.secret
        self.cluster_arn = Stack.of(self).format_arn(
            service="rds",
            resource="cluster",
            resource_name=self.cluster.cluster_identifier,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self._rotate_secret(config, vpc, subnets, secrets_manager_endpoint)
        self._allow_ingress(config)
        write_literal_ports(self.cluster.connections, DOCUMENTDB_PORT)
        self._encrypt_logs(log_key)
        self._acknowledge(config)

    def _rotate_secret(
        self,
        config: DocumentDbConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        endpoint: ec2.IInterfaceVpcEndpoint | None,
    ) -> None:
        """The rotation application in the VPC; only it may reach the Secrets Manager endpoint.

        Not ``add_rotation_single_user``: it takes neither the endpoint nor a security group,
        and in subnets without a route to AWS APIs rotation would then never finish."""
        group = rotation_security_group(
            self,
            vpc=vpc,
            endpoint=endpoint,
            description="DocumentDB secret rotation: to the cluster and the Secrets Manager API",
            endpoint_rule="DocumentDB secret rotation",
        )
        secretsmanager.SecretRotation(
            self,
            "SecretRotation",
            application=secretsmanager.SecretRotationApplication.MONGODB_ROTATION_SINGLE_USER,
            secret=self.secret,
            target=self.cluster,
            vpc=vpc,
            vpc_subnets=subnets,
            endpoint=endpoint,
            security_group=group,
            exclude_characters=_EXCLUDED,
            automatically_after=Duration.days(config.secret_rotation_days),
        )

    def _allow_ingress(self, config: DocumentDbConfig) -> None:
        port = ec2.Port.tcp(DOCUMENTDB_PORT)
        for cidr in config.ingress_cidrs:
            self.cluster.connections.allow_from(
                ec2.Peer.ipv4(cidr), port, f"DocumentDB from {cidr} (configuration)"
            )
        for group_id in config.ingress_security_group_ids:
            self.cluster.connections.allow_from(
                ec2.Peer.security_group_id(group_id),
                port,
                f"DocumentDB from {group_id} (configuration)",
            )

    def _encrypt_logs(self, log_key: kms.IKey) -> None:
        cfn = self.cluster.node.default_child
        assert isinstance(cfn, docdb.CfnDBCluster)
        for log in _LOGS:
            ServiceLogEncryption(
                self,
                f"{log.capitalize()}Log",
                log_group="/aws/docdb/{}/" + log,
                cluster=cfn,
                after=self.cluster.node.find_child(f"LogRetention{log}"),
                key=log_key,
                call_log_days=None,
            )

    def _acknowledge(self, config: DocumentDbConfig) -> None:
        acknowledge(
            self.cluster,
            "AwsSolutions-DOC2",
            "DocumentDB listens on 27017: clients and the rotation application find it there, "
            "and a moved port hides nothing from a scanner; reach is limited instead to the "
            "rotation group and the configured sources, with TLS required.",
        )
        acknowledge(
            self.cluster,
            "AwsSolutions-DOC3",
            "MasterUsername and MasterUserPassword are {{resolve:secretsmanager:...}} references "
            "to this cluster's own secret, joined with its ARN: the rule cannot read the "
            "Fn::Join (tests/stack/test_document_db.py asserts both references).",
        )
        for event in ("authenticate", "createIndex", "dropCollection"):
            acknowledge(
                self.cluster,
                f"AwsSolutions-DOC5[LogExport::{event}]",
                "DocumentDB exports only the audit and profiler logs (cdklabs/cdk-nag#1421); "
                f"the audit log, on in this cluster's parameter group and exported, records "
                f"{event} events.",
            )
        if config.backup_retention_days < 7:
            acknowledge(
                self.cluster,
                "AwsSolutions-DOC4",
                f"Backup retention is {config.backup_retention_days} days because this "
                "environment's configuration says so (document_db.backup_retention_days); AWS "
                "Backup's scheduled plan keeps this cluster's recovery points as well.",
            )
