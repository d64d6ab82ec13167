"""ServiceLogEncryption: the log key on a log group a database service creates itself.

RDS creates ``/aws/rds/cluster/<id>/postgresql``, DocumentDB
``/aws/docdb/<id>/audit`` and ``.../profiler`` (CDK's LogRetention resource
creates each first when it does not exist yet, to set the retention), so
CloudFormation cannot own them with a KmsKeyId. An SDK call associates the key
instead, after the retention resource: the same on a new cluster and on one
deployed before, whose group already exists. Events written before the
association stay as they were.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnResource, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from data_constructs.nag import acknowledge, acknowledge_compliance
from data_constructs.retention import retention_days

# The construct id of AwsCustomResource's singleton function (fixed in aws-cdk-lib).
_SDK_CALLS = "AWS679f53fac002430cb0da5b7982bd2287"


class ServiceLogEncryption(Construct):
    """Exposes the association (an AwsCustomResource), which runs after the log group exists.

    ``log_group`` names the group with ``{}`` where the cluster's Ref goes, e.g.
    ``/aws/rds/cluster/{}/postgresql``. AwsCustomResource's function is one per
    stack and logs to the group of the first association made (``call_log_days``
    given there, None for the others).
    """

    association: cr.AwsCustomResource

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_group: str,
        cluster: CfnResource,
        after: IConstruct,
        key: kms.IKey,
        call_log_days: int | None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        name = log_group.format(cluster.ref)
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
            log_group=(
                logs.LogGroup(
                    self,
                    "CallLogs",
                    retention=retention_days(call_log_days),
                    encryption_key=key,
                    removal_policy=RemovalPolicy.DESTROY,
                )
                if call_log_days is not None
                else None
            ),
        )
        self.association.node.add_dependency(after)
        cluster_id = stack.get_logical_id(cluster)
        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        partition = "<AWS::Partition>" if Token.is_unresolved(stack.partition) else stack.partition
        acknowledge(
            self.association.node.find_child("CustomResourcePolicy"),
            f"AwsSolutions-IAM5[Resource::arn:{partition}:logs:{stack.region}:{account}:log-group:"
            f"{log_group.format(f'<{cluster_id}>')}:*]",
            "IAM matches logs:AssociateKmsKey against a log group's ARN with its ':*' suffix; "
            f"this is the one log group {log_group.format('<cluster>')}, not a pattern of groups.",
        )
        acknowledge_compliance(
            self.association.node.find_child("CustomResourcePolicy"),
            "IAMNoInlinePolicy",
            f"The key association's own policy: logs:AssociateKmsKey on {log_group.format('<id>')} "
            "and the log key through CloudWatch Logs only, inline on the singleton role that "
            "makes the call.",
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
