"""Running ``python -m ops access plan|apply``: roles from cdk.json, a database, the reconciler.

Progress goes to stderr; the result to stdout as text or, with ``--json``, one
JSON document (also on failure). Every failure is one ``error: ...`` line and
an ops exit code: 2 for bad configuration or usage, 1 for a refusal or a
database error (nothing applied), 5/6 for AWS access or discovery with ``--env``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from config import ConfigError, load_access
from dbaccess import reconcile
from dbaccess.errors import AccessError
from dbaccess.plan import AccessPlan, RolePlan
from dbaccess.roles import IAM_ROLE, RoleSet
from dbmigrate.errors import InvalidConnectionStringError, MigrationError, db_error_text
from dbmigrate.transport import Transport
from ops import exit_codes, report
from ops.access import DEFAULT_CONFIG_ENV
from ops.database import owner_url
from ops.errors import OpsError
from ops.project import CDK_JSON, require_known

_INTERRUPTED = "interrupted: the transaction was rolled back, nothing was applied"


def run(args: argparse.Namespace) -> int:
    try:
        document, text = _dispatch(args)
    except (Exception, KeyboardInterrupt) as exc:
        code, message = _failure(exc)
        return report.fail(args, exc, code, message)
    report.emit(args, {"ok": True, "command": args.command, "exit_code": 0, **document}, text)
    return exit_codes.OK


def _failure(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line for a failure; anything unforeseen is re-raised."""
    if isinstance(exc, ConfigError):
        return exit_codes.USAGE, f"invalid configuration: {exc}"
    if isinstance(exc, InvalidConnectionStringError):
        return exit_codes.USAGE, str(exc)
    if isinstance(exc, (AccessError, MigrationError)):
        return exit_codes.ERROR, str(exc)
    if isinstance(exc, OpsError):
        return exc.code, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return exit_codes.INTERRUPTED, _INTERRUPTED
    if type(exc).__module__.split(".")[0] == "psycopg":
        return exit_codes.ERROR, db_error_text(exc)
    raise exc


def _dispatch(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    url = owner_url(args)
    if args.env and args.config_env:
        raise OpsError("--config-env applies only with --database-url", exit_codes.USAGE)
    if args.env:
        require_known(args.env)
    config_env = args.env or args.config_env or DEFAULT_CONFIG_ENV
    roles = load_access(CDK_JSON, config_env).roles
    with _transport(args, url) as transport:
        if args.command == "plan":
            result = reconcile.plan(transport, roles, require_iam=url is None)
        else:
            _progress(f"applying access.roles of {config_env} in one transaction")
            result = reconcile.apply(transport, roles, require_iam=url is None, on_role=_applied)
    for note in notes(result):
        _progress(f"note: {note}")
    document = {"config_env": config_env, "applied": args.command == "apply", **result.to_dict()}
    return document, render(result, roles, applied=args.command == "apply")


@contextmanager
def _transport(args: argparse.Namespace, url: str | None) -> Iterator[Transport]:
    if url is None:
        from ops.data_api import data_api_transport  # noqa: PLC0415 - boto3 only for --env

        with data_api_transport(args, label="access") as data_api:
            yield data_api
        return
    from dbmigrate.transports.psycopg_transport import PsycopgTransport  # noqa: PLC0415

    with PsycopgTransport.connect(url, application_name="ops access") as transport:
        yield transport


def notes(result: AccessPlan) -> list[str]:
    if result.iam:
        return []
    return [
        f"{IAM_ROLE} does not exist on this server (it is not RDS): the roles are made without "
        "IAM authentication and log in as its pg_hba.conf allows"
    ]


def render(result: AccessPlan, roles: RoleSet, *, applied: bool) -> str:
    """Each role's status and, for a plan, its changes; then one summary line."""
    lines = []
    for role in result.roles:
        level = role.access.value if role.access else "no longer configured"
        lines.append(f"{role.name} ({level}): {role.outcome if applied else role.status}")
        if not applied:
            lines += [f"  {change.summary}" for change in role.changes]
    where = (
        f"database {result.database}, schema {result.schema}, as {result.user}; "
        f"IAM: {IAM_ROLE if result.iam else 'none'}"
    )
    count = len(result.statements)
    if not result.changed:
        lines.append(f"no change: the roles match access.roles ({where})")
    elif applied:
        lines.append(f"applied {count} change(s) ({where})")
    else:
        lines.append(f"{count} change(s) to apply ({where})")
    if not roles:
        lines.insert(0, "access.roles is empty: no application roles")
    return "\n".join(lines)


def _applied(role: RolePlan) -> None:
    if role.changes:
        _progress(f"{role.name}: {role.outcome} ({len(role.changes)} change(s))")


def _progress(line: str) -> None:
    print(f"access: {line}", file=sys.stderr, flush=True)
