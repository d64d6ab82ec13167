"""LogEncryptionKey: the customer-managed key of the stack's log groups and Aurora's own.

The logs hold SQL text (Aurora's PostgreSQL log, slow statements; the migration
runner's), connection metadata (flow logs) and deploy requests: a key the team
controls, whose revocation cuts them all, rather than CloudWatch's own.

Not covered: the ``/aws/lambda/...`` groups Lambda creates by itself for CDK's
singleton functions (LogRetention, the default-security-group restriction, the
rotation application), which no construct here declares.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class LogEncryptionKey(Construct):
    """Exposes the key, usable by CloudWatch Logs for this account's log groups in this region."""

    key: kms.Key

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the stack's CloudWatch log groups (flow logs, migration runner, "
            "Aurora PostgreSQL log)",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # CloudWatch Logs' documented key policy: the service, for log groups of this
        # account and region only (the encryption context names the log group).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )
