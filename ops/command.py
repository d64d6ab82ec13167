"""What the AWS-facing command groups (backup, restore) share: options, output, failures.

Progress goes to stderr; the result goes to stdout as text or, with ``--json``,
as one JSON document (also on failure). Every failure is one ``error: ...``
line on stderr and a documented exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ops import exit_codes
from ops.aws import Aws, OpsError, connect
from ops.discovery import Deployment, discover, project_defaults

Connect = Callable[[argparse.Namespace], Aws]
"""Builds the clients for a parsed command line; tests replace it with stubbed clients."""


@dataclass
class Outcome:
    """A command's result: JSON fields, stdout text, exit code."""

    document: dict[str, Any]
    text: str
    code: int = exit_codes.OK
    notes: list[str] = field(default_factory=list)


def add_aws_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--region/--profile/--json, accepted before and after the subcommand (see migrate_cmd)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--region",
        default=default(None),
        help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / the profile's, "
        "else the environment's region in cdk.json)",
    )
    parser.add_argument(
        "--profile", default=default(None), help="AWS profile (default: AWS_PROFILE)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON document on stdout instead of text",
    )


def add_subcommand(commands: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand parser with the shared exit-code epilog and the AWS options."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=exit_codes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_aws_options(parser, suppress=True)
    return parser


def add_env_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--env",
        required=required,
        metavar="ENV",
        help="environment name (dev, prod, ...): finds DatabaseStack-ENV's resources",
    )
    parser.add_argument(
        "--ssm-prefix",
        metavar="PATH",
        help="SSM path the stack publishes under "
        "(default: cdk.json's ssm_prefix, else /appdata/ENV)",
    )


def add_wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help=f"poll until the {what} ends (progress on stderr); exit 4 if it failed, "
        "aborted or expired",
    )
    parser.add_argument(
        "--poll-seconds",
        type=_non_negative_float,
        default=15.0,
        metavar="S",
        help="seconds between polls with --wait (default: 15)",
    )


def open_aws(args: argparse.Namespace) -> Aws:
    custom: Connect | None = getattr(args, "connect", None)
    if custom is not None:
        return custom(args)
    env = getattr(args, "env", None)
    fallback = project_defaults(env)[0] if env else None
    return connect(args.profile, args.region, fallback_region=fallback)


def find_deployment(aws: Aws, args: argparse.Namespace) -> Deployment:
    region, prefix = project_defaults(args.env)
    return discover(aws, args.env, args.ssm_prefix or prefix, expected_region=region)


def run(args: argparse.Namespace, body: Callable[[argparse.Namespace, Aws], Outcome]) -> int:
    """Run ``body`` with clients for ``args`` and turn every failure into a line and a code."""
    command = f"{args.group} {args.command}"
    try:
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


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value
