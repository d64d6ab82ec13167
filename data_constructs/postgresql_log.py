"""PostgresqlLogEncryption: the log key on Aurora's own PostgreSQL log group.

RDS creates ``/aws/rds/cluster/<id>/postgresql`` itself (CDK's LogRetention
resource creates it first when it does not exist yet, to set the retention), so
CloudFormation cannot own it with a KmsKeyId. An SDK call associates the key
instead, after the retention resource: the same on a new cluster and on one
deployed before, whose group already exists. Events written before the
association stay as they were.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import custom_resources as cr
from constructs import Construct

from data_constructs.nag import acknowledge, acknowledge_compliance
from data_constructs.retention import retention_days

# The construct id of AwsCustomResource's singleton function (fixed in aws-cdk-lib).
_SDK_CALLS = "AWS679f53fac002430cb0da5b7982bd2287"


def _cfn(cluster: rds.DatabaseCluster) -> rds.CfnDBCluster:
    child = cluster.node.default_child
    assert isinstance(child, rds.CfnDBCluster)
    return child


class PostgresqlLogEncryption(Construct):
    """Exposes the association (an AwsCustomResource), which runs after the log group exists."""

    association: cr.AwsCustomResource

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: rds.DatabaseCluster,
        key: kms.IKey,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        name = f"/aws/rds/cluster/{cluster.cluster_identifier}/postgresql"
        call = cr.AwsSdkCall(
            service="CloudWatchLogs",
            action="associateKmsKey",
            parameters={"logGroupName": name, "kmsKeyId": key.key_arn},
            physical_resource_id=cr.PhysicalResourceId.of(name),
        )
        log_group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.association = cr.AwsCustomResource(
            self,
            "KeyAssociation",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    # Both ARN forms: IAM matches the log-group actions against the ":*" one.
                    iam.PolicyStatement(
                        actions=["logs:AssociateKmsKey"],
                        resources=[log_group_arn, f"{log_group_arn}:*"],
                    ),
                    # CloudWatch Logs uses the key on the caller's behalf (kms:ViaService).
                    iam.PolicyStatement(
                        actions=[
                            "kms:Encrypt",
                            "kms:Decrypt",
                            "kms:ReEncryptFrom",
                            "kms:ReEncryptTo",
                            "kms:GenerateDataKey",
                            "kms:GenerateDataKeyWithoutPlaintext",
                            "kms:DescribeKey",
                        ],
                        resources=[key.key_arn],
                        conditions={
                            "StringEquals": {"kms:ViaService": f"logs.{stack.region}.amazonaws.com"}
                        },
                    ),
                ]
            ),
            install_latest_aws_sdk=False,
            log_group=logs.LogGroup(
                self,
                "CallLogs",
                retention=retention_days(log_retention_days),
                encryption_key=key,
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )
        self.association.node.add_dependency(cluster.node.find_child("LogRetentionpostgresql"))
        cluster_id = stack.get_logical_id(_cfn(cluster))
        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        partition = "<AWS::Partition>" if Token.is_unresolved(stack.partition) else stack.partition
        acknowledge(
            self.association.node.find_child("CustomResourcePolicy"),
            f"AwsSolutions-IAM5[Resource::arn:{partition}:logs:{stack.region}:{account}:log-group:"
            f"/aws/rds/cluster/<{cluster_id}>/postgresql:*]",
            "IAM matches logs:AssociateKmsKey against a log group's ARN with its ':*' suffix; "
            "this is the one PostgreSQL log group of this cluster, not a pattern of groups.",
        )
        acknowledge_compliance(
            self.association.node.find_child("CustomResourcePolicy"),
            "IAMNoInlinePolicy",
            "The key association's own policy: logs:AssociateKmsKey on this cluster's "
            "PostgreSQL log group and the log key through CloudWatch Logs only, inline on the "
            "singleton role that makes the call.",
        )
        self._acknowledge_function(stack)

    def _acknowledge_function(self, stack: Stack) -> None:
        """AwsCustomResource's singleton function, which CloudFormation alone invokes."""
        function = stack.node.find_child(_SDK_CALLS)
        acknowledge(
            function,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "AwsCustomResource's function writes only its own (encrypted) logs with the basic "
            "execution role; its one call is allowed by the inline policy beside it.",
        )
        for rule, reason in (
            ("LambdaDLQ", "CloudFormation invokes the key-association function with a response "
             "URL that it answers on success and failure; an unanswered request fails the "
             "resource at its timeout, and a queued copy could no longer be answered."),
            ("LambdaConcurrency", "The key-association function runs once per deploy of this "
             "stack, for one request; a reservation would only take account concurrency."),
            ("LambdaInsideVPC", "The key-association function calls the CloudWatch Logs API "
             "and nothing in the VPC, whose subnets have no route to AWS APIs."),
        ):  # fmt: skip
            acknowledge_compliance(function, rule, reason)
