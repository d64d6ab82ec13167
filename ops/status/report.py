"""Running ``ops status``: find the deployment, run the checks concurrently, compose the screen.

The checks are independent, so each runs in its own thread (``--max-workers``,
default 8; 1 runs them one after the other, which the benchmark compares). The
clients are created first, on this thread: boto3 clients are thread-safe, their
creation is not. A failure of any check (access denied, not found) ends the
command with that check's one line and exit code, as for every ops command.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError

from config import ConfigError, load_monitoring
from dbmigrate.errors import MigrationError
from dbmigrate.transports.data_api import TransportError
from ops import command, exit_codes
from ops.aws import Aws, explain
from ops.backups import Clock, utc_now
from ops.command import Outcome
from ops.data_api import explain_transport_error, transport_for
from ops.discovery import DATA_API, Deployment
from ops.errors import OpsError
from ops.project import CDK_JSON
from ops.status import checks
from ops.status.checks import Context, Section

SERVICES = ("cloudformation", "cloudwatch", "dynamodb", "rds", "backup")
CHECKS: tuple[Callable[[Context], Section], ...] = (
    checks.stack,
    checks.alarms,
    checks.table,
    checks.cluster,
    checks.schema,
    checks.backups,
)


def run(args: argparse.Namespace) -> int:
    return command.run(args, status)


def status(args: argparse.Namespace, aws: Aws, clock: Clock = utc_now) -> Outcome:
    started = time.monotonic()
    deployment = command.find_deployment(aws, args, also=DATA_API)
    context = Context(
        aws=aws,
        deployment=deployment,
        max_backup_age_hours=_max_backup_age(deployment.env),
        now=clock(),
        schema_reader=_schema_reader(aws, deployment),
    )
    _create_clients(aws)
    with ThreadPoolExecutor(max_workers=args.max_workers) as pool:
        futures = [pool.submit(check, context) for check in CHECKS]
    sections = [future.result() for future in futures]
    findings = [finding for section in sections for finding in section.findings]
    seconds = round(time.monotonic() - started, 3)
    document = {
        "env": deployment.env,
        "region": aws.region,
        "source": deployment.source,
        "healthy": not findings,
        "findings": findings,
        **{section.name: section.document for section in sections},
        "seconds": seconds,
    }
    code = exit_codes.UNHEALTHY if findings else exit_codes.OK
    return Outcome(document, _text(deployment, aws.region, sections, findings), code=code)


def _text(deployment: Deployment, region: str, sections: list[Section], findings: list[str]) -> str:
    verdict = "HEALTHY" if not findings else f"NOT HEALTHY: {len(findings)} finding(s)"
    lines = [f"{deployment.stack_name} in {region} (from {deployment.source}): {verdict}"]
    for section in sections:
        lines += section.lines
    if findings:
        lines.append("findings:")
        lines += [f"  - {finding}" for finding in findings]
    return "\n".join(lines)


def _max_backup_age(env: str) -> int:
    try:
        return load_monitoring(CDK_JSON, env).backup_max_age_hours
    except ConfigError as exc:
        raise OpsError(f"invalid configuration: {exc}", exit_codes.USAGE) from exc


def _schema_reader(aws: Aws, deployment: Deployment) -> Callable[[], tuple[int | None, bool]]:
    transport = transport_for(aws, deployment)

    def read() -> tuple[int | None, bool]:
        try:
            return checks.read_schema(transport)
        except TransportError as exc:
            raise explain_transport_error(exc, deployment, aws.region) from exc
        except (MigrationError, ValueError) as exc:  # a schema_migrations row it cannot read
            raise OpsError(f"schema: cannot read schema_migrations: {exc}") from exc

    return read


def _create_clients(aws: Aws) -> None:
    for service in SERVICES:
        try:
            aws.client(service)
        except (ClientError, BotoCoreError) as exc:
            raise explain(exc, service, "creating the client", aws.region) from exc
