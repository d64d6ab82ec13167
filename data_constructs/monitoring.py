"""DatabaseMonitoring: every store's failure modes as alarms on one encrypted ops topic.

cdk-monitoring-constructs builds the alarms and the dashboard where it has the
signal: Aurora CPU, connections and Serverless v2 capacity; the table's and each
GSI's throttles and system errors; the runner's errors and throttles. The
signals it lacks are plain CloudWatch metrics handed to its ``monitor_custom``,
so they share its alarm naming, actions and dashboard: deadlocks, replica lag
per reader, free local storage per instance, replication latency per replica
region, and backup freshness. A failed secret rotation is an event, not a
metric: an EventBridge rule. Every alarm notifies the topic on ALARM and on OK.

Thresholds, periods and evaluation counts come from configuration
(`config.alarms` holds the defaults and why); each alarm needs its condition in
every evaluated period. Left out, and why, is in the README (Monitoring).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cdk_monitoring_constructs as mc
from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from config import AlarmSettings, MonitoringConfig
from data_constructs.app_data_table import AppDataTable

GIB = 1024**3
MEMORY_PER_ACU = 2 * GIB
"""Aurora Serverless v2: each ACU is 2 GiB of memory, and max_connections follows memory."""

GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
NOT_BREACHING = cloudwatch.TreatMissingData.NOT_BREACHING
OPERATIONS = (
    "GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems",
)  # fmt: skip
"""The operations the access policies allow (9: an alarm's math takes at most 10 metrics)."""


def max_connections(max_capacity: float) -> int:
    """Aurora PostgreSQL's default: LEAST(DBInstanceClassMemory / 9531392, 5000), at max ACU."""
    return int(min(max_capacity * MEMORY_PER_ACU / 9_531_392, 5000))


@dataclass(frozen=True)
class MonitoredCache:
    """The ElastiCache Serverless cache by name, with the limits its alarms are a share of."""

    name: str
    max_ecpu_per_second: int
    max_data_storage_gb: int


@dataclass(frozen=True)
class MonitoredResources:
    """What the alarms watch, as the stack built it."""

    cluster: rds.DatabaseCluster
    max_capacity: float
    readers: Sequence[str]
    """The reader instances' identifiers (tokens)."""
    instances: Sequence[str]
    """Every instance's identifier, writer first."""
    table: AppDataTable
    runner: lambda_.IFunction
    vault_name: str
    cache: MonitoredCache | None = None
    document_db_instances: Sequence[str] = ()
    """The DocumentDB cluster's instance identifiers (tokens), where there is one."""


class DatabaseMonitoring(Construct):
    """Exposes the facade (its alarms and dashboard) and the alarm name prefix."""

    facade: mc.MonitoringFacade
    alarm_prefix: str

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MonitoringConfig,
        topic: sns.Topic,
        topic_key: kms.IKey,
        name_prefix: str,
        resources: MonitoredResources,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._resources = resources
        self.alarm_prefix = name_prefix
        self._subscribe(topic, config)
        self._let_cloudwatch_publish(topic, topic_key)
        self.facade = mc.MonitoringFacade(
            self,
            "Facade",
            alarm_factory_defaults=mc.AlarmFactoryDefaults(
                actions_enabled=True,
                alarm_name_prefix=name_prefix,
                action=mc.SnsAlarmActionStrategy(on_alarm_topic=topic, on_ok_topic=topic),
            ),
            dashboard_factory=mc.DefaultDashboardFactory(
                self,
                "Dashboards",
                dashboard_name_prefix=name_prefix,
                create_dashboard=True,
                create_summary_dashboard=False,
                create_alarm_dashboard=False,
            ),
        )
        self._aurora()
        self._table()
        self._runner()
        self._custom()
        self._alarm_states()
        self._rotation_failures(topic)

    # -- cdk-monitoring-constructs ---------------------------------------------------------

    def _aurora(self) -> None:
        """The library's Aurora widgets; its alarms average the cluster, so ours are per
        instance (`_instance_alarms`): a Serverless v2 instance scales, and meets max ACU and
        max_connections, on its own."""
        self.facade.monitor_aurora_cluster(
            cluster=self._resources.cluster, alarm_friendly_name="Aurora"
        )

    def _table(self) -> None:
        table = self._resources.table
        reads = self._threshold("table_read_throttles", mc.ThrottledEventsThreshold, _throttles)
        writes = self._threshold("table_write_throttles", mc.ThrottledEventsThreshold, _throttles)
        self.facade.monitor_dynamo_table(
            table=table.table,
            alarm_friendly_name="AppData",
            add_read_throttled_events_count_alarm=reads,
            add_write_throttled_events_count_alarm=writes,
        )
        for index in table.index_names:
            self.facade.monitor_dynamo_table_global_secondary_index(
                table=table.table,
                global_secondary_index_name=index,
                alarm_friendly_name=f"AppData-{index}",
                add_read_throttled_events_count_alarm=reads,
                add_write_throttled_events_count_alarm=writes,
            )

    def _runner(self) -> None:
        self.facade.monitor_lambda_function(
            lambda_function=self._resources.runner,
            alarm_friendly_name="MigrationRunner",
            add_fault_count_alarm=self._threshold("runner_errors", mc.ErrorCountThreshold, _errors),
            add_throttles_count_alarm=self._threshold(
                "runner_throttles", mc.ErrorCountThreshold, _errors
            ),
        )

    # -- plain CloudWatch metrics, through monitor_custom --------------------------------

    def _custom(self) -> None:
        resources = self._resources
        cluster = {"DBClusterIdentifier": resources.cluster.cluster_identifier}
        self._monitor_custom(
            "Aurora",
            [
                self._group("Per instance: capacity, CPU, connections", self._instance_alarms()),
                self._group(
                    "Deadlocks and commit latency",
                    [
                        self._alarmed("aurora_deadlocks", "Deadlocks", "Deadlocks", cluster, GT),
                        _rds("CommitLatency", cluster, "Average"),
                    ],
                ),
                self._group(
                    "Free local storage",
                    [
                        self._alarmed(
                            "aurora_free_local_storage",
                            f"Instance{n}-FreeLocalStorage",
                            "FreeLocalStorage",
                            {"DBInstanceIdentifier": instance},
                            LT,
                            statistic="Minimum",
                            value=lambda gib: gib * GIB,
                        )
                        for n, instance in enumerate(resources.instances)
                    ],
                ),
                self._group("Replica lag", self._replica_lag()),
            ],
        )
        self._monitor_custom(
            "AppData",
            [
                self._group("System errors", [self._system_errors()]),
                self._group("Replication latency", self._replication()),
            ],
        )
        self._monitor_custom("Backups", [self._group("Freshness", [self._backup_freshness()])])
        if resources.cache is not None:
            self._monitor_custom("Cache", [self._group("Throttles, ECPU, storage", self._cache())])
        if resources.document_db_instances:
            self._monitor_custom(
                "DocumentDb", [self._group("Per instance: CPU, replica lag", self._document_db())]
            )

    def _document_db(self) -> list[Any]:
        """Per instance, as for Aurora: CPU, and replica lag on every instance when there are
        replicas (a failover swaps the roles; the primary publishes none)."""
        instances = self._resources.document_db_instances
        found = []
        for n, instance in enumerate(instances):
            dims = {"DBInstanceIdentifier": instance}
            found.append(
                self._alarmed("document_db_cpu", f"Instance{n}-CPU", "CPUUtilization", dims, GT,
                              namespace="AWS/DocDB")
            )  # fmt: skip
            if len(instances) > 1:
                found.append(
                    self._alarmed("document_db_replica_lag", f"Instance{n}-ReplicaLag",
                                  "DBInstanceReplicaLag", dims, GT, statistic="Maximum",
                                  namespace="AWS/DocDB")
                )  # fmt: skip
        return found

    def _cache(self) -> list[Any]:
        """ElastiCache Serverless publishes per cache (``clusterId``): throttled commands, ECPUs
        consumed (a sum per period: the cap is per second) and bytes stored."""
        cache = self._resources.cache
        assert cache is not None
        dims = {"clusterId": cache.name}
        ecpu = self._config.alarm("cache_ecpu")
        ecpu_period_seconds = (ecpu.period_minutes if ecpu else 5) * 60
        return [
            self._alarmed("cache_throttled_commands", "ThrottledCommands", "ThrottledCmds", dims,
                          GT, statistic="Sum", namespace="AWS/ElastiCache"),
            self._alarmed("cache_ecpu", "ECPU", "ElastiCacheProcessingUnits", dims, GT,
                          statistic="Sum", namespace="AWS/ElastiCache",
                          value=lambda pct: cache.max_ecpu_per_second * pct / 100
                          * ecpu_period_seconds),
            self._alarmed("cache_storage", "Storage", "BytesUsedForCache", dims, GT,
                          statistic="Maximum", namespace="AWS/ElastiCache",
                          value=lambda pct: cache.max_data_storage_gb * 10**9 * pct / 100),
        ]  # fmt: skip

    def _monitor_custom(self, name: str, groups: list[mc.CustomMetricGroup | None]) -> None:
        self.facade.monitor_custom(
            alarm_friendly_name=name,
            human_readable_name=f"{name}: signals cdk-monitoring-constructs does not cover",
            metric_groups=[group for group in groups if group is not None],
        )

    def _instance_alarms(self) -> list[Any]:
        resources = self._resources
        ceiling = max_connections(resources.max_capacity)
        found = []
        for n, instance in enumerate(resources.instances):
            dims = {"DBInstanceIdentifier": instance}
            found += [
                self._alarmed("aurora_capacity", f"Instance{n}-Capacity",
                              "ServerlessDatabaseCapacity", dims, GT,
                              value=lambda pct: round(resources.max_capacity * pct / 100, 2)),
                self._alarmed("aurora_cpu", f"Instance{n}-CPU", "CPUUtilization", dims, GT),
                self._alarmed("aurora_connections", f"Instance{n}-Connections",
                              "DatabaseConnections", dims, GT, statistic="Maximum",
                              value=lambda pct: int(ceiling * pct / 100)),
            ]  # fmt: skip
        return found

    def _replica_lag(self) -> list[Any]:
        """On every instance when readers exist: after a failover the writer and a reader
        trade places, and the writer publishes no lag (missing data is not breaching)."""
        if not self._resources.readers:
            return []
        return [
            self._alarmed(
                "aurora_replica_lag",
                f"Instance{n}-ReplicaLag",
                "AuroraReplicaLag",
                {"DBInstanceIdentifier": instance},
                GT,
                statistic="Maximum",
            )
            for n, instance in enumerate(self._resources.instances)
        ]

    def _system_errors(self) -> Any:
        """SystemErrors is published per operation, and only where errors happened: each is
        FILLed with 0 before the sum, or one silent operation would void every datapoint."""
        metrics = {
            f"e{n}": cloudwatch.Metric(
                namespace="AWS/DynamoDB",
                metric_name="SystemErrors",
                dimensions_map={
                    "TableName": self._resources.table.table.table_name,
                    "Operation": operation,
                },
                statistic="Sum",
            )
            for n, operation in enumerate(OPERATIONS)
        }
        settings = self._config.alarm("table_system_errors")
        expression = cloudwatch.MathExpression(
            expression="+".join(f"FILL({key},0)" for key in metrics),
            using_metrics=metrics,
            label="System errors (all operations)",
            period=Duration.minutes(settings.period_minutes if settings else 5),
        )
        if settings is None:
            return expression
        return mc.CustomMetricWithAlarm(
            alarm_friendly_name="SystemErrors",
            metric=expression,
            add_alarm={
                "Critical": mc.CustomThreshold(
                    threshold=settings.threshold,
                    comparison_operator=GT,
                    treat_missing_data_override=NOT_BREACHING,
                    **_timing(settings),
                )
            },
        )

    def _replication(self) -> list[Any]:
        table = self._resources.table
        return [
            self._alarmed(
                "table_replication_latency",
                f"Replication-{region}",
                "ReplicationLatency",
                {"TableName": table.table.table_name, "ReceivingRegion": region},
                GT,
                namespace="AWS/DynamoDB",
            )
            for region in table.replica_regions
        ]

    def _backup_freshness(self) -> Any:
        """No completed backup job in the vault for ``backup_max_age_hours``.

        AWS Backup's metrics are per vault (a ResourceType split is not documented
        together with the vault), and this vault holds only this stack's two
        resources: one resource's success can hide the other's silence, which
        ``ops status`` checks per resource. Missing data is breaching: no job at
        all publishes nothing.
        """
        hours = self._config.backup_max_age_hours
        metric = cloudwatch.Metric(
            namespace="AWS/Backup",
            metric_name="NumberOfBackupJobsCompleted",
            dimensions_map={"BackupVaultName": self._resources.vault_name},
            statistic="Sum",
            period=Duration.hours(1),
        )
        return mc.CustomMetricWithAlarm(
            alarm_friendly_name="Freshness",
            metric=metric,
            add_alarm={
                "Critical": mc.CustomThreshold(
                    threshold=1,
                    comparison_operator=LT,
                    evaluation_periods=hours,
                    datapoints_to_alarm=hours,
                    period=Duration.hours(1),
                    treat_missing_data_override=cloudwatch.TreatMissingData.BREACHING,
                    alarm_description_override=(
                        f"No backup job completed in vault {self._resources.vault_name} for "
                        f"{hours} hours (monitoring.backup_max_age_hours)"
                    ),
                )
            },
        )

    def _alarmed(
        self,
        name: str,
        friendly: str,
        metric_name: str,
        dimensions: Mapping[str, str],
        comparison: cloudwatch.ComparisonOperator,
        *,
        statistic: str = "Average",
        namespace: str = "AWS/RDS",
        value: Callable[[float], float] = float,
    ) -> Any:
        """A metric with alarm ``name``'s settings; ``value`` turns the configured threshold
        (a percentage, GiB...) into the metric's unit."""
        settings = self._config.alarm(name)
        metric = cloudwatch.Metric(
            namespace=namespace,
            metric_name=metric_name,
            dimensions_map=dict(dimensions),
            statistic=statistic,
            period=Duration.minutes(settings.period_minutes if settings else 5),
        )
        if settings is None:
            return metric
        return mc.CustomMetricWithAlarm(
            alarm_friendly_name=friendly,
            metric=metric,
            add_alarm={
                "Critical": mc.CustomThreshold(
                    threshold=value(settings.threshold),
                    comparison_operator=comparison,
                    treat_missing_data_override=NOT_BREACHING,
                    **_timing(settings),
                )
            },
        )

    @staticmethod
    def _group(title: str, metrics: list[Any]) -> mc.CustomMetricGroup | None:
        return mc.CustomMetricGroup(title=title, metrics=metrics) if metrics else None

    # -- dashboard, events, subscribers -----------------------------------------------------

    def _alarm_states(self) -> None:
        """Every alarm the facade made, in the order it made them: found in the construct
        tree, because ``facade.created_alarms()`` hands back each alarm's whole definition,
        fetched from Node.js a property at a time (1900 calls, 0.5 s of a synth)."""
        alarms = [c for c in self.facade.node.find_all() if isinstance(c, cloudwatch.Alarm)]
        self.facade.add_widget(
            cloudwatch.AlarmStatusWidget(alarms=alarms, title="Alarm states", width=24)
        )

    def _rotation_failures(self, topic: sns.Topic) -> None:
        """Secrets Manager reports a failed rotation as a CloudTrail service event."""
        events.Rule(
            self,
            "SecretRotationFailed",
            description="A Secrets Manager rotation failed (the cluster secret rotates here)",
            event_pattern=events.EventPattern(
                source=["aws.secretsmanager"],
                detail_type=["AWS Service Event via CloudTrail"],
                detail={
                    "eventSource": ["secretsmanager.amazonaws.com"],
                    "eventName": ["RotationFailed"],
                },
            ),
            targets=[targets.SnsTopic(topic)],
        )

    @staticmethod
    def _let_cloudwatch_publish(topic: sns.Topic, key: kms.IKey) -> None:
        """An encrypted topic with a resource policy (enforce_ssl) admits only whom it names:
        CloudWatch alarms of this account, and the topic's key for them."""
        account = {"StringEquals": {"aws:SourceAccount": Stack.of(topic).account}}
        cloudwatch_service = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[cloudwatch_service],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=account,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsUseTheTopicKey",
                principals=[cloudwatch_service],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=account,
            )
        )

    @staticmethod
    def _subscribe(topic: sns.Topic, config: MonitoringConfig) -> None:
        """Children of the topic, as the backup alerts' email subscriptions always were."""
        for email in config.emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        for url in config.https_urls:
            topic.add_subscription(subscriptions.UrlSubscription(url))

    def _threshold(self, name: str, kind: type, values: Any) -> dict[str, Any] | None:
        """``{"Critical": kind(...)}`` from alarm ``name``'s settings; None when it is off."""
        settings = self._config.alarm(name)
        if settings is None:
            return None
        return {
            "Critical": kind(
                **values(settings), treat_missing_data_override=NOT_BREACHING, **_timing(settings)
            )
        }


def _timing(settings: AlarmSettings) -> dict[str, Any]:
    return {
        "period": Duration.minutes(settings.period_minutes),
        "evaluation_periods": settings.evaluation_periods,
        "datapoints_to_alarm": settings.evaluation_periods,
    }


def _throttles(settings: AlarmSettings) -> dict[str, Any]:
    return {"max_throttled_events_threshold": settings.threshold}


def _errors(settings: AlarmSettings) -> dict[str, Any]:
    return {"max_error_count": settings.threshold}


def _rds(metric_name: str, dimensions: Mapping[str, str], statistic: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/RDS",
        metric_name=metric_name,
        dimensions_map=dict(dimensions),
        statistic=statistic,
        period=Duration.minutes(5),
    )
