"""ApplicationAccess: one customer-managed IAM policy per application role.

A service's IAM role attaches the policy of the database role it logs in as,
and gets exactly that role's reach: ``rds-db:connect`` as that one database
user of this cluster, the role's DynamoDB actions on the AppData table and
``Query`` on its indexes (each named, no wildcard), and the table key's use
through DynamoDB only. Scan is in neither level: the standards forbid it, and
the policy makes the service unable to run one.

There are no separate IAM actions for TransactGetItems/TransactWriteItems:
DynamoDB authorizes each item of a transaction as the GetItem, PutItem,
UpdateItem, DeleteItem or ConditionCheckItem it is.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from constructs import Construct

from data_constructs.app_data_table import AppDataTable
from dbaccess.roles import AccessLevel, RoleSet, RoleSpec

ITEM_ACTIONS = {
    AccessLevel.READ_WRITE: (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
    ),
    AccessLevel.READ_ONLY: ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"),
}
INDEX_ACTIONS = ("dynamodb:Query",)
KEY_ACTIONS = {
    AccessLevel.READ_WRITE: ("kms:Decrypt", "kms:GenerateDataKey"),
    AccessLevel.READ_ONLY: ("kms:Decrypt",),
}


def policy_description(role: str) -> str:
    """CloudFormation replaces a managed policy whose Description changes (a new ARN, detached
    from every service that attached the old one), so it names the role and nothing that a
    configuration change could alter, such as the access level."""
    return f"For the IAM role of a service that logs in to the database as {role}"


class ApplicationAccess(Construct):
    """Exposes each role's managed policy, and grants the same statements to a principal."""

    policies: dict[str, iam.ManagedPolicy]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        roles: RoleSet,
        cluster: rds.DatabaseCluster,
        table: AppDataTable,
    ) -> None:
        super().__init__(scope, construct_id)
        self._roles = roles
        self._cluster = cluster
        self._table = table
        self.policies = {
            role.name: iam.ManagedPolicy(
                self,
                f"{role.pascal_name}Policy",
                description=policy_description(role.name),
                statements=self.statements(role.name),
            )
            for role in roles
        }

    def database_user_arn(self, role: str) -> str:
        """``arn:...:rds-db:REGION:ACCOUNT:dbuser:CLUSTER_RESOURCE_ID/ROLE``."""
        return Stack.of(self).format_arn(
            service="rds-db",
            resource="dbuser",
            resource_name=f"{self._cluster.cluster_resource_identifier}/{role}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def statements(self, role: str) -> list[iam.PolicyStatement]:
        """The statements of ``role``'s policy (what `grant` attaches, too)."""
        spec = self._spec(role)
        tables = [self._table.table.table_arn, *self._table.replica_arns]
        found = [
            iam.PolicyStatement(
                sid="ConnectAsDatabaseUser",
                actions=["rds-db:connect"],
                resources=[self.database_user_arn(spec.name)],
            ),
            iam.PolicyStatement(
                sid="AppDataItems", actions=list(ITEM_ACTIONS[spec.access]), resources=tables
            ),
            iam.PolicyStatement(
                sid="AppDataIndexes",
                actions=list(INDEX_ACTIONS),
                resources=[
                    f"{arn}/index/{name}" for arn in tables for name in self._table.index_names
                ],
            ),
        ]
        key = self._table.key
        if key is not None:
            found.append(self._key_statement(spec, [key.key_arn, *self._table.replica_key_arns]))
        return found

    def grant(self, grantee: iam.IGrantable, role: str) -> iam.Grant:
        """Give ``grantee`` (a service's role in this app) the statements of ``role``'s policy."""
        grants = [
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=statement.actions,
                resource_arns=statement.resources,
                conditions=statement.conditions or None,
            )
            for statement in self.statements(role)
        ]
        combined = grants[0]
        for grant in grants[1:]:
            combined = combined.combine(grant)
        return combined

    def _key_statement(self, spec: RoleSpec, keys: list[str]) -> iam.PolicyStatement:
        """The table key, usable only by DynamoDB on the service's behalf (kms:ViaService)."""
        stack = Stack.of(self)
        regions = [stack.region, *self._table.replica_regions]
        return iam.PolicyStatement(
            sid="AppDataTableKey",
            actions=list(KEY_ACTIONS[spec.access]),
            resources=keys,
            conditions={
                "StringEquals": {
                    "kms:ViaService": [f"dynamodb.{r}.{stack.url_suffix}" for r in regions]
                }
            },
        )

    def _spec(self, role: str) -> RoleSpec:
        spec = self._roles.get(role)
        if spec is None:
            known = ", ".join(self._roles.names) or "none"
            raise ValueError(f"no application role {role!r} in access.roles (configured: {known})")
        return spec
