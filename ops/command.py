"""How the AWS-facing command groups (backup, restore) run: clients, output, failures.

Progress goes to stderr; the result goes to stdout as text or, with ``--json``,
as one JSON document (also on failure). Every failure is one ``error: ...``
line on stderr and a documented exit code, never a traceback.

This module imports botocore, so only a command that runs imports it (the
groups' handlers do, on first use); their options are in `ops.options`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ops import exit_codes
from ops.aws import Aws, connect
from ops.discovery import Deployment, discover
from ops.errors import OpsError
from ops.project import project_defaults, require_known

Connect = Callable[[argparse.Namespace], Aws]
"""Builds the clients for a parsed command line; tests replace it with stubbed clients."""


@dataclass
class Outcome:
    """A command's result: JSON fields, stdout text, exit code."""

    document: dict[str, Any]
    text: str
    code: int = exit_codes.OK
    notes: list[str] = field(default_factory=list)


def open_aws(args: argparse.Namespace) -> Aws:
    """Clients for the command's region and profile; an ``--env`` cdk.json lacks is refused."""
    env = getattr(args, "env", None)
    if env:
        require_known(env)
    custom: Connect | None = getattr(args, "connect", None)
    if custom is not None:
        return custom(args)
    fallback = project_defaults(env)[0] if env else None
    return connect(args.profile, args.region, fallback_region=fallback)


def find_deployment(aws: Aws, args: argparse.Namespace, also: Sequence[str] = ()) -> Deployment:
    """``--env``'s deployment; ``also``: published values the command needs besides the usual."""
    region, prefix = project_defaults(args.env)
    return discover(aws, args.env, args.ssm_prefix or prefix, expected_region=region, also=also)


def run(
    args: argparse.Namespace,
    body: Callable[[argparse.Namespace, Aws], Outcome],
    *,
    prepare: Callable[[argparse.Namespace], None] | None = None,
) -> int:
    """Run ``body`` with clients for ``args`` and turn every failure into a line and a code.

    ``prepare`` may check or settle ``args`` before the clients are made (``guard`` pins
    the region); its `OpsError` is reported like the body's."""
    command = args.group if args.command == args.group else f"{args.group} {args.command}"
    try:
        if prepare is not None:
            prepare(args)
        outcome = body(args, open_aws(args))
    except OpsError as exc:
        return _fail(args, command, exc, str(exc), exc.code)
    except (ClientError, BotoCoreError) as exc:  # a call that bypassed ops.aws.call
        return _fail(args, command, exc, f"AWS error: {exc}", exit_codes.ERROR)
    for note in outcome.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        document = {
            "ok": outcome.code == exit_codes.OK,
            "command": command,
            "exit_code": outcome.code,
            **outcome.document,
        }
        if outcome.notes:
            document["notes"] = outcome.notes
        print(json.dumps(document, sort_keys=True, default=str))
    else:
        print(outcome.text)
    return outcome.code


def _fail(args: argparse.Namespace, command: str, exc: BaseException, text: str, code: int) -> int:
    print(f"error: {text}", file=sys.stderr)
    if args.json:
        document = {
            "ok": False,
            "command": command,
            "error": text,
            "error_type": type(exc).__name__,
            "exit_code": code,
        }
        print(json.dumps(document, sort_keys=True))
    return code
