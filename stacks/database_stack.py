"""DatabaseStack: one environment's data layer, composed from the data_constructs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, Stack, Tags, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from config import EnvironmentConfig
from data_constructs.app_data_table import AppDataTable
from data_constructs.application_access import ApplicationAccess
from data_constructs.aurora_cluster import AuroraCluster
from data_constructs.backups import DatabaseBackups
from data_constructs.document_db_cluster import DOCUMENTDB_PORT, DocumentDbCluster
from data_constructs.log_encryption import LogEncryptionKey
from data_constructs.migration_runner import MigrationRunner
from data_constructs.monitoring import DatabaseMonitoring, MonitoredCache, MonitoredResources
from data_constructs.network import DatabaseNetwork
from data_constructs.serverless_cache import ServerlessCache
from dbaccess.roles import RoleSet
from dbmigrate.bundle import Bundle


class DatabaseStack(Stack):
    """The AppData table, the Aurora cluster, its network and migrations, and published values."""

    table: AppDataTable
    log_key: LogEncryptionKey
    network: DatabaseNetwork
    aurora: AuroraCluster
    document_db: DocumentDbCluster | None
    cache: ServerlessCache | None
    migrations: MigrationRunner
    backups: DatabaseBackups
    access: ApplicationAccess
    monitoring: DatabaseMonitoring

    def __init__(self, scope: Construct, *, config: EnvironmentConfig, migrations: Bundle) -> None:
        super().__init__(
            scope,
            config.stack_name,
            env=Environment(account=config.account, region=config.region),
            description=f"AppData data layer ({config.name}): DynamoDB single table and Aurora",
            termination_protection=config.termination_protection,
        )
        self.table = AppDataTable(self, "AppDataTable", config=config.table)
        self.log_key = LogEncryptionKey(self, "LogEncryption")
        self.network = DatabaseNetwork(
            self, "Network", config=config.network, log_key=self.log_key.key
        )
        self.aurora = AuroraCluster(
            self,
            "AuroraCluster",
            config=config.aurora,
            vpc=self.network.vpc,
            subnets=self.network.subnets,
            secrets_manager_endpoint=self.network.secrets_manager_endpoint,
            enhanced_monitoring_seconds=config.monitoring.enhanced_monitoring_seconds,
            log_key=self.log_key.key,
        )
        self.migrations = MigrationRunner(
            self,
            "MigrationRunner",
            bundle=migrations,
            cluster=self.aurora.cluster,
            secret=self.aurora.secret,
            database_name=config.aurora.database_name,
            environment_name=config.name,
            log_retention_days=config.aurora.log_retention_days,
            roles=config.access.roles,
            timing=config.migrations,
            log_key=self.log_key.key,
        )
        # After AuroraCluster: its log-key association makes the stack's AwsCustomResource
        # function and gives it its (encrypted) log group; DocumentDB's associations reuse it.
        self.document_db = (
            DocumentDbCluster(
                self,
                "DocumentDb",
                config=config.document_db,
                vpc=self.network.vpc,
                subnets=self.network.subnets,
                secrets_manager_endpoint=self.network.secrets_manager_endpoint,
                log_key=self.log_key.key,
            )
            if config.document_db
            else None
        )
        self.cache = (
            ServerlessCache(
                self,
                "Cache",
                config=config.cache,
                environment_name=config.name,
                vpc=self.network.vpc,
                subnets=self.network.subnets,
            )
            if config.cache
            else None
        )
        self.access = ApplicationAccess(
            self,
            "Access",
            roles=config.access.roles,
            cluster=self.aurora.cluster,
            table=self.table,
        )
        self.backups = DatabaseBackups(
            self,
            "Backups",
            config=config.backup,
            continuous_retention_days=config.aurora.backup_retention_days,
            name_prefix=f"appdata_{config.name}",
            table=self.table.table,
            cluster=self.aurora.cluster,
            document_db_arn=self.document_db.cluster_arn if self.document_db else None,
        )
        self.monitoring = self._monitoring(config)
        for key, value in config.tags:
            Tags.of(self).add(key, value)
        Tags.of(self).add("environment", config.name)
        self._publish_all(config.ssm_prefix, database_name=config.aurora.database_name)
        self._publish_access(config.ssm_prefix, config.access.roles)
        if self.document_db:
            self._publish_document_db(config.ssm_prefix, self.document_db)
        if self.cache:
            self._publish_cache(config.ssm_prefix, self.cache)

    def _monitoring(self, config: EnvironmentConfig) -> DatabaseMonitoring:
        instances = self.aurora.cluster.instance_identifiers
        return DatabaseMonitoring(
            self,
            "Monitoring",
            config=config.monitoring,
            topic=self.backups.topic,
            topic_key=self.backups.key,
            name_prefix=f"appdata-{config.name}",
            resources=MonitoredResources(
                cluster=self.aurora.cluster,
                max_capacity=config.aurora.max_capacity,
                instances=instances,
                readers=instances[1:],
                table=self.table,
                runner=self.migrations.function,
                vault_name=self.backups.vault.backup_vault_name,
                cache=(
                    MonitoredCache(
                        name=self.cache.cache_name,
                        max_ecpu_per_second=config.cache.max_ecpu_per_second,
                        max_data_storage_gb=config.cache.max_data_storage_gb,
                    )
                    if self.cache and config.cache
                    else None
                ),
                document_db_instances=(
                    self.document_db.cluster.instance_identifiers if self.document_db else ()
                ),
            ),
        )

    def grant_access(self, grantee: iam.IGrantable, *, role: str = "app_rw") -> iam.Grant:
        """What attaching ``role``'s published policy gives, for a service in this CDK app."""
        return self.access.grant(grantee, role)

    def _publish_all(self, prefix: str, *, database_name: str) -> None:
        cluster = self.aurora.cluster
        self._publish(prefix, "TableName", "table-name", self.table.table.table_name)
        self._publish(prefix, "TableArn", "table-arn", self.table.table.table_arn)
        self._publish(prefix, "ClusterArn", "cluster-arn", cluster.cluster_arn)
        self._publish(prefix, "ClusterIdentifier", "cluster-id", cluster.cluster_identifier)
        self._publish(
            prefix, "ClusterEndpoint", "cluster-endpoint", cluster.cluster_endpoint.hostname
        )
        self._publish(
            prefix,
            "ClusterReaderEndpoint",
            "cluster-reader-endpoint",
            cluster.cluster_read_endpoint.hostname,
        )
        self._publish(prefix, "SecretArn", "secret-arn", self.aurora.secret.secret_arn)
        self._publish(prefix, "DatabaseName", "database-name", database_name)
        backups = self.backups
        self._publish(
            prefix, "BackupVaultName", "backup-vault-name", backups.vault.backup_vault_name
        )
        self._publish(prefix, "BackupRoleArn", "backup-role-arn", backups.role.role_arn)
        self._publish(prefix, "BackupPlanId", "backup-plan-id", backups.plan.backup_plan_id)
        self._publish(prefix, "BackupTopicArn", "backup-topic-arn", backups.topic.topic_arn)
        self._publish(prefix, "AlarmNamePrefix", "alarm-name-prefix", self.monitoring.alarm_prefix)

    def _publish_access(self, prefix: str, roles: RoleSet) -> None:
        """How a service connects: the cluster's IAM identity and port, each role's policy."""
        cluster = self.aurora.cluster
        self._publish(
            prefix, "ClusterResourceId", "cluster-resource-id", cluster.cluster_resource_identifier
        )
        port = Token.as_string(cluster.cluster_endpoint.port)
        self._publish(prefix, "ClusterPort", "cluster-port", port)
        for role in roles:
            policy_arn = self.access.policies[role.name].managed_policy_arn
            where = f"access/{role.name}"
            self._publish(prefix, f"{role.pascal_name}PolicyArn", f"{where}/policy-arn", policy_arn)
            self._publish(
                prefix, f"{role.pascal_name}DatabaseUser", f"{where}/database-user", role.name
            )

    def _publish_document_db(self, prefix: str, documents: DocumentDbCluster) -> None:
        """Where a service finds the DocumentDB cluster, and what ``ops backup`` needs."""
        cluster = documents.cluster
        for output_id, parameter, value in (
            ("DocumentDbClusterIdentifier", "document-db/cluster-id", cluster.cluster_identifier),
            ("DocumentDbClusterArn", "document-db/cluster-arn", documents.cluster_arn),
            ("DocumentDbEndpoint", "document-db/endpoint", cluster.cluster_endpoint.hostname),
            (
                "DocumentDbReaderEndpoint",
                "document-db/reader-endpoint",
                cluster.cluster_read_endpoint.hostname,
            ),
            ("DocumentDbPort", "document-db/port", str(DOCUMENTDB_PORT)),
            ("DocumentDbSecretArn", "document-db/secret-arn", documents.secret.secret_arn),
        ):
            self._publish(prefix, output_id, parameter, value)

    def _publish_cache(self, prefix: str, cache: ServerlessCache) -> None:
        """Where a service finds the cache: CACHE_URL is rediss://<endpoint>:<port>."""
        resource = cache.cache
        for output_id, parameter, value in (
            ("CacheName", "cache/name", cache.cache_name),
            ("CacheArn", "cache/arn", resource.attr_arn),
            ("CacheEndpoint", "cache/endpoint", resource.attr_endpoint_address),
            ("CachePort", "cache/port", resource.attr_endpoint_port),
            ("CacheReaderEndpoint", "cache/reader-endpoint", resource.attr_reader_endpoint_address),
            ("CacheReaderPort", "cache/reader-port", resource.attr_reader_endpoint_port),
        ):
            self._publish(prefix, output_id, parameter, value)

    def _publish(self, prefix: str, output_id: str, parameter: str, value: str) -> None:
        """A CloudFormation output for humans and an SSM parameter for tools (the ops CLI)."""
        name = f"{prefix}/{parameter}"
        CfnOutput(self, output_id, value=value, description=f"Also in SSM parameter {name}")
        ssm.StringParameter(self, f"{output_id}Parameter", parameter_name=name, string_value=value)
