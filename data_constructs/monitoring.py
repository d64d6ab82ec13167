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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cdk_monitoring_constructs as mc
from aws_cdk import Duration
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


def max_connections(max_capacity: float) -> int:
    """Aurora PostgreSQL's default: LEAST(DBInstanceClassMemory / 9531392, 5000), at max ACU."""
    return int(min(max_capacity * MEMORY_PER_ACU / 9_531_392, 5000))


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
    secret_arn: str
    vault_name: str


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
        # CloudWatch publishes to the encrypted topic with the topic's key.
        topic_key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
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
        resources = self._resources
        capacity = self._threshold(
            "aurora_capacity",
            mc.UsageCountThreshold,
            lambda s: {"max_usage_count": round(resources.max_capacity * s.threshold / 100, 2)},
        )
        ceiling = max_connections(resources.max_capacity)
        connections = self._threshold(
            "aurora_connections",
            mc.HighConnectionCountThreshold,
            lambda s: {"max_connection_count": int(ceiling * s.threshold / 100)},
        )
        cpu = self._threshold(
            "aurora_cpu", mc.UsageThreshold, lambda s: {"max_usage_percent": s.threshold}
        )
        self.facade.monitor_aurora_cluster(
            cluster=resources.cluster,
            alarm_friendly_name="Aurora",
            add_max_serverless_database_capacity_alarm=capacity,
            add_max_connection_count_alarm=connections,
            add_cpu_usage_alarm=cpu,
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
            add_system_error_count_alarm=self._threshold(
                "table_system_errors", mc.ErrorCountThreshold, _errors
            ),
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
        groups = [
            self._group(
                "Aurora deadlocks and commit latency",
                [
                    self._alarmed("aurora_deadlocks", "Deadlocks", "Deadlocks", cluster, GT),
                    _rds("CommitLatency", cluster, "Average"),
                ],
            ),
            self._group(
                "Aurora free local storage",
                [
                    self._alarmed(
                        "aurora_free_local_storage",
                        f"Instance{n}-FreeLocalStorage",
                        "FreeLocalStorage",
                        {"DBInstanceIdentifier": instance},
                        LT,
                        statistic="Minimum",
                        scale=GIB,
                    )
                    for n, instance in enumerate(resources.instances)
                ],
            ),
            self._group(
                "Aurora replica lag",
                [
                    self._alarmed(
                        "aurora_replica_lag",
                        f"Reader{n}-ReplicaLag",
                        "AuroraReplicaLag",
                        {"DBInstanceIdentifier": reader},
                        GT,
                        statistic="Maximum",
                    )
                    for n, reader in enumerate(resources.readers, start=1)
                ],
            ),
            self._group("AppData replication latency", self._replication()),
            self._group("Backups", [self._backup_freshness()]),
        ]
        self.facade.monitor_custom(
            alarm_friendly_name="Data",
            human_readable_name="Signals cdk-monitoring-constructs does not cover",
            metric_groups=[group for group in groups if group is not None],
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
            alarm_friendly_name="BackupFreshness",
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
        scale: float = 1,
    ) -> Any:
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
                    threshold=settings.threshold * scale,
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
        alarms = [created.alarm for created in self.facade.created_alarms()]
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
