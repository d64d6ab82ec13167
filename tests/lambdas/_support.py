"""Shared pieces for the migration-runner tests: CloudFormation events, bundles, SQL checks.

The events have the shape the Provider framework hands to onEvent: the
CloudFormation request with its ``ResponseURL`` kept by the framework, every
property a string, ``ServiceToken`` among the properties.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from dbaccess.roles import RoleSet
from dbmigrate.bundle import Bundle
from dbmigrate.compile import compile_directory
from lambdas.migration_runner import handler
from tests.fixtures.data_api import DataApiEndpoint

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "migrations"
STACK_ID = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/AppData-dev/"
    "5b2b3c10-8d5e-11ef-9a1b-0a1b2c3d4e5f"
)
LOGICAL_ID = "MigrationRunnerSchemaMigrations5A1C2D3E"
SERVICE_TOKEN = (
    "arn:aws:lambda:us-east-1:123456789012:function:"
    "AppData-dev-MigrationRunnerProviderframeworkonEv-AbCdEf123456"
)
LOG_GROUP_NAME = "AppData-dev-MigrationRunnerFunction1A2B3C4D-AbCdEf123456"


TIMING_PROPERTIES = {
    "TotalTimeoutSeconds": "3600",
    "QueryIntervalSeconds": "30",
    "InvocationBudgetSeconds": "600",
}
"""What the construct sends with the configuration's defaults (config.model.MigrationsConfig)."""


class LambdaContextStub:
    """The one method of the Lambda context the handler calls; no Lambda runs offline."""

    def __init__(self, remaining_ms: int = 900_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def write_migration(directory: Path, name: str, sql: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(sql, encoding="utf-8")
    return path


def copy_repo_migrations(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for path in MIGRATIONS.glob("*.sql"):
        (directory / path.name).write_bytes(path.read_bytes())
    return directory


def write_bundle(migrations: Path, bundle_file: Path) -> Bundle:
    """Compile ``migrations`` as the construct does at synth and write the asset's bundle.json."""
    bundle = compile_directory(migrations)
    bundle_file.parent.mkdir(parents=True, exist_ok=True)
    bundle_file.write_text(bundle.to_json(), encoding="utf-8")
    return bundle


def properties(endpoint: DataApiEndpoint, bundle: Bundle, **extra: str) -> dict[str, str]:
    """The construct's properties for ``bundle``, as CloudFormation passes them (strings)."""
    return {
        "ServiceToken": SERVICE_TOKEN,
        "ClusterArn": endpoint.resource_arn,
        "SecretArn": endpoint.secret_arn,
        "Database": endpoint.database,
        "TargetVersion": str(bundle.target_version),
        "BundleChecksum": bundle.bundle_checksum,
        "Environment": "dev",
        **TIMING_PROPERTIES,
        **extra,
    }


def role_properties(roles: RoleSet) -> dict[str, str]:
    """The construct's ``Roles`` and ``RolesChecksum`` for ``roles``."""
    return {"Roles": roles.to_json(), "RolesChecksum": roles.checksum}


def _event(request_type: str, props: dict[str, str]) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/...",
        "StackId": STACK_ID,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": LOGICAL_ID,
        "ResourceType": "Custom::SchemaMigrations",
        "ResourceProperties": props,
    }


def create_event(props: dict[str, str]) -> dict[str, Any]:
    return _event("Create", props)


def update_event(
    props: dict[str, str], old_props: dict[str, str], physical_id: str = "schema-migrations"
) -> dict[str, Any]:
    return {
        **_event("Update", props),
        "PhysicalResourceId": physical_id,
        "OldResourceProperties": old_props,
    }


def delete_event(props: dict[str, str], physical_id: str = "schema-migrations") -> dict[str, Any]:
    return {**_event("Delete", props), "PhysicalResourceId": physical_id}


def framework_response_bytes(event: dict[str, Any], reason: str) -> int:
    """Size of the body the Provider framework PUTs to CloudFormation for a failure.

    The framework reports ``Error.stack``: our message, a blank line, the log
    group, a blank line and its Node stack trace (approximated generously here).
    """
    stack = "".join(
        f"\n    at {frame} (/var/task/framework.js:1:{n}000)"
        for n, frame in enumerate(
            [
                "invokeUserFunction",
                "process.processTicksAndRejections",
                "async onEvent",
                "async Runtime.handler",
                "async Runtime.handleOnceNonStreaming",
            ]
        )
    )
    body = {
        "Status": "FAILED",
        "Reason": f"Error: {reason}\n\nLogs: /aws/lambda/{LOG_GROUP_NAME}\n{stack}",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "PhysicalResourceId": "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED",
        "LogicalResourceId": event["LogicalResourceId"],
    }
    return len(json.dumps(body, ensure_ascii=False).encode("utf-8"))


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Check the database on a direct connection, not through the code under test."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def state(url: str) -> list[tuple[Any, ...]]:
    return query(url, "SELECT version, dirty FROM schema_migrations")


def tables(url: str) -> set[str]:
    return {r[0] for r in query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def history(url: str) -> list[tuple[Any, ...]]:
    return query(
        url,
        "SELECT version, name, direction, applied_by FROM schema_migrations_history ORDER BY id",
    )


def snapshot(url: str) -> tuple[Any, ...]:
    """Everything a run could change: version row, history, tables and columns."""
    columns = query(
        url,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY 1, 2",
    )
    return state(url), history(url), columns


def log_lines(stdout: str) -> list[dict[str, Any]]:
    """The handler's JSON log lines; every stdout line must be one."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def provide(
    event: dict[str, Any],
    on_event: Callable[[dict[str, Any]], dict[str, Any]],
    is_complete: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    max_attempts: int = 120,
    asynchronous: bool = True,
    between_calls: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Drive the handlers as the Provider framework does (framework.js, aws-cdk-lib 2.275).

    onEvent once; its response is merged into the event (PhysicalResourceId
    defaulted as the framework does); then isComplete on that same input, at once
    and again after each "not yet", at most ``max_attempts`` more times (the
    waiter's retries), after which the framework reports "Operation timed out".
    A raised exception is FAILED: it is raised here, as the reason's source.
    Returns what goes to CloudFormation on SUCCESS: the physical id and Data.
    """
    result = on_event(event) or {}
    physical = result.get("PhysicalResourceId") or (
        event["RequestId"] if event["RequestType"] == "Create" else event["PhysicalResourceId"]
    )
    if event["RequestType"] == "Delete":
        assert physical == event["PhysicalResourceId"], "the framework refuses a new id on Delete"
    merged = {**event, **result, "PhysicalResourceId": physical}
    if asynchronous:
        for _ in range(max_attempts + 1):
            done = is_complete(json.loads(json.dumps(merged)))  # the waiter passes JSON
            if done.get("IsComplete"):
                merged = {**merged, "Data": {**merged.get("Data", {}), **done.get("Data", {})}}
                break
            assert not done.get("Data"), '"Data" is not allowed if "IsComplete" is "False"'
            between_calls()
        else:
            raise TimeoutError("Operation timed out")
    response = {"PhysicalResourceId": merged["PhysicalResourceId"]}
    if merged.get("Data"):
        response["Data"] = merged["Data"]
    return response


def deploy(
    event: dict[str, Any], context: LambdaContextStub | None = None, **options: Any
) -> dict[str, Any]:
    """``event`` through the Lambda's handler, driven by `provide`."""
    ctx = context or LambdaContextStub()
    return provide(event, lambda e: handler.main(e, ctx), lambda e: handler.main(e, ctx), **options)
