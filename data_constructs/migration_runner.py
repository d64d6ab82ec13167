"""MigrationRunner: applies the bundled migrations on every deploy, then reconciles the
application roles, through the Data API.

The migrations were compiled at synth (file names checked, statements split by
PostgreSQL's own parser, checksums taken), so a broken file fails ``cdk synth``,
not the deploy. The Lambda asset carries only the runner, the engine, the role
reconciler (``dbaccess``) and the compiled bundle: no parser, no driver,
nothing to reach the VPC for.

The custom resource's properties carry the target version and the bundle
checksum: ``cdk diff`` shows a migration change, and CloudFormation sends an
Update exactly when the migrations change. They also carry the environment's
name, so that a failure tells the operator the exact
``python -m ops migrate force V --env ENV`` command. And they carry the role
definitions with their checksum (``Roles``, ``RolesChecksum``): a role change
shows in ``cdk diff`` and sends an Update even when no migration changed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from config.model import MigrationsConfig
from data_constructs.nag import acknowledge, acknowledge_compliance
from data_constructs.retention import retention_days
from dbaccess.roles import RoleSet
from dbmigrate.bundle import Bundle

ROOT = Path(__file__).resolve().parents[1]
RUNNER_SOURCE = ROOT / "lambdas" / "migration_runner"
ENGINE_SOURCE = ROOT / "dbmigrate"
ACCESS_SOURCE = ROOT / "dbaccess"
# Synth-time or local-only modules: the Lambda must not need pglast or psycopg.
_NOT_IN_ASSET = (
    "compile.py",
    "source.py",
    "cache.py",
    "psycopg_transport.py",
    "psycopg2_transport.py",
    "psycopg2_without_ssl.py",
)
HANDLER = "migration_runner.handler.main"
"""Both of the Provider's calls, onEvent and isComplete (the handler tells them apart)."""
_DATA_API_ACTIONS = (
    "BeginTransaction",
    "CommitTransaction",
    "ExecuteStatement",
    "RollbackTransaction",
)
RESOURCE_TYPE = "Custom::SchemaMigrations"
RESERVED_CONCURRENCY = 3
"""A bounded runner. Not 1: after a cancelled update the Provider's waiter can still be calling
isComplete (aws/aws-cdk#31541) when the rollback's onEvent arrives; throttling that onEvent
would fail the rollback (UPDATE_ROLLBACK_FAILED). Two are in flight at most; the migration
lock, not Lambda, keeps runs from overlapping in the database."""
MAX_SERVICE_TIMEOUT_SECONDS = 3600


class MigrationRunner(Construct):
    """The runner function, its Provider and the custom resource that triggers it."""

    function: lambda_.Function
    provider: cr.Provider
    resource: CustomResource

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bundle: Bundle,
        cluster: rds.DatabaseCluster,
        secret: secretsmanager.ISecret,
        database_name: str,
        environment_name: str,
        log_retention_days: int,
        roles: RoleSet,
        timing: MigrationsConfig,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._log_key = log_key
        self.function = self._function(bundle, log_retention_days)
        self._grant(cluster, secret)
        total = Duration.minutes(timing.total_timeout_minutes)
        # Asynchronous: onEvent checks the request, isComplete applies files a budget at a
        # time, called every query interval until done (lambdas/migration_runner/timing.py).
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            is_complete_handler=self.function,
            query_interval=Duration.seconds(timing.query_interval_seconds),
            total_timeout=total,
            log_group=self._log_group("ProviderLogs", log_retention_days),
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=cr.LogOptions(
                destination=self._log_group("WaiterLogs", log_retention_days),
                level=sfn.LogLevel.ALL,
                # The execution data is the CloudFormation request, with its presigned URL.
                include_execution_data=False,
            ),
        )
        self.resource = CustomResource(
            self,
            "SchemaMigrations",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            # CloudFormation's own wait, at its one-hour maximum: the runner reports first.
            service_timeout=Duration.seconds(MAX_SERVICE_TIMEOUT_SECONDS),
            properties={
                "ClusterArn": cluster.cluster_arn,
                "SecretArn": secret.secret_arn,
                "Database": database_name,
                "Environment": environment_name,
                "TargetVersion": str(bundle.target_version or 0),
                "BundleChecksum": bundle.bundle_checksum,
                "Roles": roles.to_json(),
                "RolesChecksum": roles.checksum,
                "TotalTimeoutSeconds": str(total.to_seconds()),
                "QueryIntervalSeconds": str(timing.query_interval_seconds),
                "InvocationBudgetSeconds": str(timing.invocation_budget_seconds),
            },
        )
        self.resource.node.add_dependency(cluster)
        self._acknowledge_provider()
        self._acknowledge_compliance()

    def _grant(self, cluster: rds.DatabaseCluster, secret: secretsmanager.ISecret) -> None:
        """The Data API calls the runner makes, on this cluster only; read on its secret.

        ``secret.grant_read`` also grants kms:Decrypt on the secret's customer-managed key.
        """
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[f"rds-data:{action}" for action in _DATA_API_ACTIONS],
                resources=[cluster.cluster_arn],
            )
        )
        secret.grant_read(self.function)

    def _function(self, bundle: Bundle, log_retention_days: int) -> lambda_.Function:
        with tempfile.TemporaryDirectory(prefix="migration-runner-") as staging:
            return lambda_.Function(
                self,
                "Function",
                description="Applies the bundled schema migrations through the RDS Data API",
                runtime=lambda_.Runtime.PYTHON_3_14,
                architecture=lambda_.Architecture.ARM_64,
                handler=HANDLER,
                code=lambda_.Code.from_asset(str(stage_asset(bundle, Path(staging)))),
                timeout=Duration.minutes(14),
                memory_size=256,
                reserved_concurrent_executions=RESERVED_CONCURRENCY,
                log_group=self._log_group("FunctionLogs", log_retention_days),
            )

    def _log_group(self, construct_id: str, days: int) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            retention=retention_days(days),
            encryption_key=self._log_key,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _acknowledge_provider(self) -> None:
        stack = Stack.of(self)
        runner_arn = stack.get_logical_id(_cfn(self.function))
        for name in ("framework-onEvent", "framework-isComplete", "framework-onTimeout"):
            framework = self.provider.node.find_child(name)
            acknowledge(
                framework,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                f"The custom_resources.Provider framework's {name} function only writes its own "
                "logs; the basic execution role is the framework's fixed choice.",
            )
            acknowledge(
                framework,
                "AwsSolutions-L1",
                f"The Provider framework's {name} function's Node.js runtime is pinned by "
                "aws-cdk-lib, not by this project; the migration runner itself uses the latest "
                "Python runtime.",
            )
        for name in ("framework-onEvent", "framework-isComplete", "framework-onTimeout"):
            acknowledge(
                self.provider.node.find_child(name),
                f"AwsSolutions-IAM5[Resource::<{runner_arn}.Arn>:*]",
                f"The Provider framework's {name} function invokes any version of the migration "
                "runner function; the wildcard is limited to that one function's qualified ARNs.",
            )
        self._acknowledge_waiter(stack)

    def _acknowledge_waiter(self, stack: Stack) -> None:
        waiter = self.provider.node.find_child("waiter-state-machine")
        for name in ("framework-isComplete", "framework-onTimeout"):
            function = self.provider.node.find_child(name)
            assert isinstance(function, lambda_.Function)
            acknowledge(
                waiter,
                f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(_cfn(function))}.Arn>:*]",
                f"The Provider's waiter state machine invokes any version of its {name} "
                "function; the wildcard is limited to that one function's qualified ARNs.",
            )
        acknowledge(
            waiter,
            "AwsSolutions-IAM5[Resource::*]",
            "The waiter state machine's log delivery to WaiterLogs: Step Functions' logging "
            "actions (logs:CreateLogDelivery and the rest) support no resource-level permissions.",
        )
        acknowledge(
            waiter,
            "AwsSolutions-SF2",
            "The Provider's waiter only calls isComplete again every query interval; each "
            "execution is logged (ALL events, WaiterLogs) and the runner logs every file it "
            "applies as JSON, so X-Ray traces would add no information.",
        )

        acknowledge(
            self.function,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "The migration runner writes only to its own log group; its data access is the "
            "Data API on this cluster and read access to this cluster's secret.",
        )

    def _acknowledge_compliance(self) -> None:
        """The compliance packs' Lambda and inline-policy rules, function by function."""
        _one_to_one_policy(self.function, "the migration runner's Data API and secret access")
        acknowledge_compliance(
            self.function,
            "LambdaDLQ",
            "The Provider framework invokes the migration runner synchronously and reports its "
            "answer or error to CloudFormation; no asynchronous event exists for a queue.",
        )
        acknowledge_compliance(
            self.function,
            "LambdaInsideVPC",
            "The migration runner reaches the database through the RDS Data API by design "
            "(an AWS API, IAM-authorized); the cluster's isolated subnets have no route to it.",
        )
        for name in ("framework-onEvent", "framework-isComplete", "framework-onTimeout"):
            framework = self.provider.node.find_child(name)
            assert isinstance(framework, lambda_.Function)
            _one_to_one_policy(framework, f"the Provider's {name} invoke permissions")
            invoker = (
                "CloudFormation invokes it with a response URL that it answers on success and "
                "failure; an unanswered request fails the resource at its timeout, and a queued "
                "copy could no longer be answered"
                if name == "framework-onEvent"
                else "the waiter state machine invokes it synchronously and retries it"
            )
            for rule, reason in (
                ("LambdaDLQ", f"The Provider's {name} function: {invoker}."),
                ("LambdaConcurrency", f"The Provider's {name} function serves one deploy of this "
                 "stack at a time; the runner it calls is the one with reserved concurrency."),
                ("LambdaInsideVPC", f"The Provider's {name} function calls only AWS APIs "
                 "(Lambda, Step Functions, CloudFormation's response URL), nothing in the VPC."),
            ):  # fmt: skip
                acknowledge_compliance(framework, rule, reason)
        waiter = self.provider.node.find_child("waiter-state-machine")
        acknowledge_compliance(
            waiter.node.find_child("Role").node.find_child("DefaultPolicy"),
            "IAMNoInlinePolicy",
            "The waiter state machine's own role: invoking isComplete/onTimeout and delivering "
            "its logs, one inline policy that lives and dies with the role.",
        )


def _one_to_one_policy(function: lambda_.Function, what: str) -> None:
    """A function's CDK-made role policy: one role, one policy, deleted together."""
    role = function.role
    assert role is not None
    acknowledge_compliance(
        role.node.find_child("DefaultPolicy"),
        "IAMNoInlinePolicy",
        f"The inline policy holds {what}, for this one role only: inline keeps the policy "
        "and the role in a one-to-one relationship (a managed policy could be attached "
        "elsewhere); the policies services attach are the managed ones in Access.",
    )


def _cfn(function: lambda_.Function) -> lambda_.CfnFunction:
    child = function.node.default_child
    assert isinstance(child, lambda_.CfnFunction)
    return child


def stage_asset(bundle: Bundle, staging: Path) -> Path:
    """Lay out the asset: ``migration_runner/`` (+ bundle.json), ``dbmigrate/``, ``dbaccess/``."""
    runner = staging / "migration_runner"
    shutil.copytree(RUNNER_SOURCE, runner, ignore=shutil.ignore_patterns("__pycache__"))
    (runner / "bundle.json").write_text(bundle.to_json(), encoding="utf-8")
    shutil.copytree(
        ENGINE_SOURCE,
        staging / "dbmigrate",
        ignore=shutil.ignore_patterns("__pycache__", *_NOT_IN_ASSET),
    )
    shutil.copytree(
        ACCESS_SOURCE, staging / "dbaccess", ignore=shutil.ignore_patterns("__pycache__")
    )
    return staging
