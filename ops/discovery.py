"""Find an environment's table, cluster, vault and database from what its DatabaseStack published.

The stack publishes each value twice: an SSM parameter under ``/appdata/<env>``
(the prefix is configurable per environment) and a CloudFormation output of
``DatabaseStack-<env>``. SSM is read first (one GetParametersByPath call);
the stack outputs are the fallback, so the operator names only the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ops import exit_codes
from ops.aws import Aws, call, error_code
from ops.backups import RESOURCES, Resource
from ops.errors import OpsError

# Published value -> (SSM parameter name under the prefix, CloudFormation output key).
FIELDS = {
    "table_name": ("table-name", "TableName"),
    "table_arn": ("table-arn", "TableArn"),
    "cluster_id": ("cluster-id", "ClusterIdentifier"),
    "cluster_arn": ("cluster-arn", "ClusterArn"),
    "secret_arn": ("secret-arn", "SecretArn"),
    "database_name": ("database-name", "DatabaseName"),
    "vault_name": ("backup-vault-name", "BackupVaultName"),
    "backup_role_arn": ("backup-role-arn", "BackupRoleArn"),
    "plan_id": ("backup-plan-id", "BackupPlanId"),
    "topic_arn": ("backup-topic-arn", "BackupTopicArn"),
    "alarm_prefix": ("alarm-name-prefix", "AlarmNamePrefix"),
    "document_db_cluster_id": ("document-db/cluster-id", "DocumentDbClusterIdentifier"),
    "document_db_cluster_arn": ("document-db/cluster-arn", "DocumentDbClusterArn"),
}
REQUIRED = ("table_name", "table_arn", "cluster_id", "cluster_arn")
DATA_API = ("cluster_arn", "secret_arn", "database_name")
"""What ``migrate --env`` needs: the Data API's resource ARN, secret ARN and database."""


@dataclass(frozen=True)
class Deployment:
    """One deployed environment; optional fields are None where the stack published none."""

    env: str
    region: str
    source: str
    table_name: str
    table_arn: str
    cluster_id: str
    cluster_arn: str
    secret_arn: str | None = None
    database_name: str | None = None
    vault_name: str | None = None
    backup_role_arn: str | None = None
    plan_id: str | None = None
    topic_arn: str | None = None
    alarm_prefix: str | None = None
    document_db_cluster_id: str | None = None
    document_db_cluster_arn: str | None = None

    @property
    def stack_name(self) -> str:
        return stack_name(self.env)

    @property
    def resources(self) -> tuple[Resource, ...]:
        """The table and Aurora cluster, and the DocumentDB cluster where the stack has one."""
        return (*RESOURCES, "documentdb") if self.document_db_cluster_id else RESOURCES

    def cluster(self, resource: Resource) -> tuple[str, str]:
        """(identifier, ARN) of the ``aurora`` or ``documentdb`` cluster; a stack without
        DocumentDB says so."""
        if resource == "aurora":
            return self.cluster_id, self.cluster_arn
        if not self.document_db_cluster_id or not self.document_db_cluster_arn:
            raise OpsError(
                f"{self.stack_name} in {self.region} has no DocumentDB cluster "
                "(no document-db/cluster-id, document-db/cluster-arn): add a document_db section "
                "to the environment in cdk.json and deploy",
                exit_codes.NOT_FOUND,
            )
        return self.document_db_cluster_id, self.document_db_cluster_arn

    def arn(self, resource: Resource) -> str:
        return self.table_arn if resource == "dynamodb" else self.cluster(resource)[1]

    def label(self, resource: Resource) -> str:
        """How reports name a store: ``table NAME``, ``cluster ID``, ``DocumentDB cluster ID``."""
        if resource == "dynamodb":
            return f"table {self.table_name}"
        if resource == "aurora":
            return f"cluster {self.cluster_id}"
        return f"DocumentDB cluster {self.document_db_cluster_id}"

    def require_vault(self) -> tuple[str, str]:
        """(vault name, backup role ARN), or an error saying the stack publishes none."""
        if not self.vault_name or not self.backup_role_arn:
            raise OpsError(
                f"{self.stack_name} in {self.region} publishes no backup vault/role "
                "(backup-vault-name, backup-role-arn): "
                "deploy the backups construct or use --native",
                exit_codes.NOT_FOUND,
            )
        return self.vault_name, self.backup_role_arn


def stack_name(env: str) -> str:
    return f"DatabaseStack-{env}"


def from_values(
    env: str, region: str, source: str, values: dict[str, str], also: Sequence[str] = ()
) -> Deployment:
    """A Deployment from published values keyed like `FIELDS`; missing required ones fail.

    ``also`` names optional fields this command cannot do without (`DATA_API`).
    """
    missing = [
        FIELDS[name][0] for name in dict.fromkeys((*REQUIRED, *also)) if not values.get(name)
    ]
    if missing:
        raise OpsError(
            f"{source} lacks {', '.join(missing)}: "
            f"is {stack_name(env)} fully deployed in {region}?",
            exit_codes.NOT_FOUND,
        )
    known = {name: values.get(name) or None for name in FIELDS}
    return Deployment(env=env, region=region, source=source, **known)  # type: ignore[arg-type]


def discover(
    aws: Aws,
    env: str,
    ssm_prefix: str | None = None,
    expected_region: str | None = None,
    also: Sequence[str] = (),
) -> Deployment:
    """SSM parameters under the prefix, else the stack's outputs; errors name stack and region.

    ``expected_region`` (cdk.json's) only sharpens the not-deployed message; ``also``
    names optional fields the caller needs (see `from_values`).
    """
    prefix = (ssm_prefix or f"/appdata/{env}").rstrip("/")
    values = _from_ssm(aws, prefix)
    if values is not None and all(values.get(name) for name in (*REQUIRED, *also)):
        return from_values(env, aws.region, f"SSM {prefix}/", values, also)
    try:
        outputs = _from_stack(aws, env, prefix)
    except OpsError as exc:
        if exc.code == exit_codes.NOT_FOUND and expected_region and expected_region != aws.region:
            raise OpsError(
                f"{exc} (cdk.json deploys {env} to {expected_region})", exc.code
            ) from exc
        raise
    return from_values(env, aws.region, f"stack {stack_name(env)}", outputs, also)


def _from_ssm(aws: Aws, prefix: str) -> dict[str, str] | None:
    """Values found under the prefix (None if SSM could not be read: the stack may still answer).

    Recursive: the DocumentDB values are one level down (``document-db/cluster-id``)."""
    by_parameter = {parameter: name for name, (parameter, _) in FIELDS.items()}
    values: dict[str, str] = {}
    token: str | None = None
    try:
        while True:
            page = call(
                aws,
                "ssm",
                "GetParametersByPath",
                Path=prefix,
                Recursive=True,
                **({"NextToken": token} if token else {}),
            )
            for parameter in page.get("Parameters", []):
                name = by_parameter.get(str(parameter["Name"]).removeprefix(prefix + "/"))
                if name:
                    values[name] = str(parameter["Value"])
            token = page.get("NextToken")
            if not token:
                return values
    except OpsError as exc:
        if str(exc).startswith("access denied"):
            return None  # the stack's outputs may still be readable
        raise


def _from_stack(aws: Aws, env: str, prefix: str) -> dict[str, str]:
    name = stack_name(env)
    try:
        answer = call(aws, "cloudformation", "DescribeStacks", StackName=name)
    except OpsError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            raise OpsError(
                f"stack {name} is not deployed in {aws.region} (and no SSM parameters "
                f"under {prefix}/): check --region / AWS_REGION and --env",
                exit_codes.NOT_FOUND,
            ) from exc
        raise
    stacks: list[dict[str, Any]] = answer.get("Stacks", [])
    if not stacks:
        raise OpsError(f"stack {name} is not deployed in {aws.region}", exit_codes.NOT_FOUND)
    outputs = {o["OutputKey"]: str(o["OutputValue"]) for o in stacks[0].get("Outputs", [])}
    status = stacks[0].get("StackStatus", "")
    if status.startswith("DELETE_COMPLETE") or not outputs:
        raise OpsError(
            f"stack {name} in {aws.region} has no outputs (status {status or 'unknown'})",
            exit_codes.NOT_FOUND,
        )
    return {field: outputs[key] for field, (_, key) in FIELDS.items() if key in outputs}
