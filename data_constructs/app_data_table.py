"""AppDataTable: the standards' DynamoDB single table (PK/SK, EmailIndex, TimestampIndex).

TableV2 (AWS::DynamoDB::GlobalTable) rather than Table so that replica regions can
be added later without replacing the table; switching between the two would.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from appdata.keys import EMAIL_INDEX, PARTITION_KEY, SORT_KEY, TIMESTAMP_INDEX
from config import StreamView, TableClass, TableConfig, TableEncryption

_STREAMS = {
    StreamView.KEYS_ONLY: dynamodb.StreamViewType.KEYS_ONLY,
    StreamView.NEW_IMAGE: dynamodb.StreamViewType.NEW_IMAGE,
    StreamView.OLD_IMAGE: dynamodb.StreamViewType.OLD_IMAGE,
    StreamView.NEW_AND_OLD_IMAGES: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
}
_CLASSES = {
    TableClass.STANDARD: dynamodb.TableClass.STANDARD,
    TableClass.STANDARD_INFREQUENT_ACCESS: dynamodb.TableClass.STANDARD_INFREQUENT_ACCESS,
}


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class AppDataTable(Construct):
    """The single table every access pattern of the standards runs against."""

    table: dynamodb.TableV2
    key: kms.Key | None
    index_names: tuple[str, ...]
    """The GSIs, whose ARNs the access policies name one by one."""
    replica_regions: tuple[str, ...]
    replica_arns: tuple[str, ...]
    """The table's ARN in each replica region, where services there call DynamoDB."""
    replica_key_arns: tuple[str, ...]
    """The customer-managed keys of the replicas (empty with AWS-managed encryption)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: TableConfig) -> None:
        super().__init__(scope, construct_id)
        self.index_names = (EMAIL_INDEX, TIMESTAMP_INDEX)
        self.replica_regions = config.replica_regions
        self.replica_key_arns = tuple(arn for _, arn in config.replica_key_arns)
        self.key = (
            self._customer_key() if config.encryption is TableEncryption.CUSTOMER_MANAGED else None
        )
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=config.table_name,
            partition_key=_string(PARTITION_KEY),
            sort_key=_string(SORT_KEY),
            billing=dynamodb.Billing.on_demand(),
            encryption=self._encryption(config),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True,
                recovery_period_in_days=config.pitr_recovery_days,
            ),
            deletion_protection=config.deletion_protection,
            removal_policy=RemovalPolicy.RETAIN,
            time_to_live_attribute=config.ttl_attribute,
            dynamo_stream=_STREAMS[config.stream] if config.stream else None,
            contributor_insights_specification=dynamodb.ContributorInsightsSpecification(
                enabled=config.contributor_insights
            ),
            table_class=_CLASSES[config.table_class],
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=EMAIL_INDEX,
                    partition_key=_string("email"),
                    projection_type=dynamodb.ProjectionType.ALL,
                ),
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=TIMESTAMP_INDEX,
                    partition_key=_string("type"),
                    sort_key=_string("created_at"),
                    projection_type=dynamodb.ProjectionType.ALL,
                ),
            ],
            replicas=[dynamodb.ReplicaTableProps(region=r) for r in config.replica_regions],
        )
        self.replica_arns = tuple(self.table.replica(r).table_arn for r in self.replica_regions)

    def _customer_key(self) -> kms.Key:
        return kms.Key(
            self,
            "Key",
            description="Encrypts the AppData DynamoDB table",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _encryption(self, config: TableConfig) -> dynamodb.TableEncryptionV2:
        if self.key is None:
            return dynamodb.TableEncryptionV2.aws_managed_key()
        return dynamodb.TableEncryptionV2.customer_managed_key(
            self.key, replica_key_arns=dict(config.replica_key_arns)
        )
