"""DatabaseBackups: AWS Backup for the AppData table, the Aurora cluster and DocumentDB.

- One vault, encrypted with its own customer-managed key, optionally locked.
- A scheduled plan (daily, weekly, monthly recovery points) selecting exactly
  the table, the cluster and the DocumentDB cluster when there is one, by ARN,
  never by a tag anything could carry. AWS Backup has no continuous backup for
  DocumentDB: its point-in-time restore is the cluster's own backup retention.
- A continuous plan for the cluster only: point-in-time restore through AWS
  Backup. DynamoDB has no continuous backup in AWS Backup; its PITR is the
  table's own setting (AppDataTable).
- Failed, aborted and expired jobs reach the encrypted ops topic via EventBridge,
  which (unlike vault notifications) also sees ABORTED. The topic was born here
  as the backup alert topic and stays here: its logical ID is what subscribers
  and the ops CLI know. Every alarm of `DatabaseMonitoring` publishes to it.
- Optionally, restore testing plans that prove the recovery points restore.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from constructs import Construct

from config import BackupConfig
from data_constructs.nag import acknowledge

_SCHEDULES = {
    "Daily": events.Schedule.cron(hour="3", minute="0"),
    "Weekly": events.Schedule.cron(week_day="SUN", hour="4", minute="0"),
    "Monthly": events.Schedule.cron(day="1", hour="5", minute="0"),
}
_BAD_STATES = ["FAILED", "ABORTED", "EXPIRED"]
_SERVICE_ROLE_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
)


class DatabaseBackups(Construct):
    """Exposes the vault, the plans, the backup role and the alert topic (for the ops CLI)."""

    vault: backup.BackupVault
    key: kms.Key
    plan: backup.BackupPlan
    continuous_plan: backup.BackupPlan
    role: iam.Role
    topic: sns.Topic

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: BackupConfig,
        continuous_retention_days: int,
        name_prefix: str,
        table: dynamodb.TableV2,
        cluster: rds.DatabaseCluster,
        document_db_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the backup vault and the ops alert topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.vault = backup.BackupVault(
            self,
            "Vault",
            encryption_key=self.key,
            lock_configuration=_lock(config),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = self._role()
        self.plan = self._scheduled_plan(config, f"{name_prefix}_scheduled")
        self.continuous_plan = backup.BackupPlan(
            self,
            "ContinuousPlan",
            backup_plan_name=f"{name_prefix}_continuous",
            backup_vault=self.vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="AuroraPointInTime",
                    enable_continuous_backup=True,
                    delete_after=Duration.days(continuous_retention_days),
                )
            ],
        )
        documents = [document_db_arn] if document_db_arn else []
        self._select(self.plan, "Selection", [table.table_arn, *documents], cluster)
        self._select(self.continuous_plan, "ContinuousSelection", [], cluster)
        self.topic = self._alerts(config)
        if config.restore_testing:
            self._restore_testing(name_prefix, table, cluster, document_db_arn)

    def _role(self) -> iam.Role:
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            description="AWS Backup's role for the AppData table and the Aurora cluster",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(name)
                for name in _SERVICE_ROLE_POLICIES
            ],
        )
        for name in _SERVICE_ROLE_POLICIES:
            acknowledge(
                role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]",
                "AWS Backup's service-role policy is the API set AWS maintains for backup and "
                "restore jobs (continuous Aurora backup included); a hand-narrowed copy breaks "
                "silently when the service starts calling a new API. Only AWS Backup can assume "
                "this role, and only this stack's selections name it.",
            )
        return role

    def _scheduled_plan(self, config: BackupConfig, name: str) -> backup.BackupPlan:
        copy = (
            [
                backup.BackupPlanCopyActionProps(
                    destination_backup_vault=backup.BackupVault.from_backup_vault_arn(
                        self, "DisasterRecoveryVault", config.dr_copy.vault_arn
                    ),
                    delete_after=Duration.days(config.dr_copy.retention_days),
                )
            ]
            if config.dr_copy
            else None
        )
        return backup.BackupPlan(
            self,
            "Plan",
            backup_plan_name=name,
            backup_vault=self.vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name=name,
                    schedule_expression=_SCHEDULES[name],
                    delete_after=Duration.days(days),
                    copy_actions=copy,
                )
                for name, days in zip(_SCHEDULES, config.scheduled_retentions, strict=True)
            ],
        )

    def _select(
        self,
        plan: backup.BackupPlan,
        construct_id: str,
        arns: list[str],
        cluster: rds.DatabaseCluster,
    ) -> None:
        plan.add_selection(
            construct_id,
            role=self.role,
            resources=[
                *(backup.BackupResource.from_arn(arn) for arn in arns),
                backup.BackupResource.from_rds_database_cluster(cluster),
            ],
        )

    def _alerts(self, config: BackupConfig) -> sns.Topic:
        topic = sns.Topic(
            self,
            "AlertTopic",
            display_name="AppData data layer alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.key.grant(
            iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        for kind, field in (("Backup", "state"), ("Copy", "state"), ("Restore", "status")):
            events.Rule(
                self,
                f"{kind}JobAlert",
                description=f"AWS Backup {kind.lower()} jobs that failed, aborted or expired",
                event_pattern=events.EventPattern(
                    source=["aws.backup"],
                    detail_type=[f"{kind} Job State Change"],
                    detail={field: _BAD_STATES},
                ),
                targets=[targets.SnsTopic(topic)],
            )
        return topic

    def _restore_testing(
        self,
        name_prefix: str,
        table: dynamodb.TableV2,
        cluster: rds.DatabaseCluster,
        document_db_arn: str | None,
    ) -> None:
        """Weekly restores of the newest recovery points, validated then deleted by AWS Backup."""
        plan_name = f"{name_prefix}_restore_testing"
        plan = backup.CfnRestoreTestingPlan(
            self,
            "RestoreTestingPlan",
            restore_testing_plan_name=plan_name,
            schedule_expression="cron(0 6 ? * MON *)",
            start_window_hours=4,
            recovery_point_selection=backup.CfnRestoreTestingPlan.RestoreTestingRecoveryPointSelectionProperty(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[self.vault.backup_vault_arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=7,
            ),
        )
        protected = [("DynamoDB", table.table_arn), ("Aurora", cluster.cluster_arn)]
        if document_db_arn:
            protected.append(("DocumentDB", document_db_arn))
        for resource_type, arn in protected:
            selection = backup.CfnRestoreTestingSelection(
                self,
                f"{resource_type}RestoreTest",
                restore_testing_plan_name=plan_name,
                restore_testing_selection_name=f"{name_prefix}_{resource_type.lower()}",
                protected_resource_type=resource_type,
                protected_resource_arns=[arn],
                iam_role_arn=self.role.role_arn,
                validation_window_hours=2,
            )
            selection.node.add_dependency(plan)


def _lock(config: BackupConfig) -> backup.LockConfiguration | None:
    lock = config.vault_lock
    if lock is None:
        return None
    return backup.LockConfiguration(
        min_retention=Duration.days(lock.min_retention_days),
        max_retention=Duration.days(lock.max_retention_days),
        changeable_for=Duration.days(lock.changeable_for_days),
    )
