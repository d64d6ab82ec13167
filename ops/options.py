"""Command-line options the AWS-facing commands (backup, restore, migrate --env) share.

Only argparse and the exit codes: building the ``python -m ops`` parser must
not import botocore (~0.3 s with boto3), which ``migrate`` and ``--help``
never use. What runs a command lives in `ops.command`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ops import exit_codes


def add_aws_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--region/--profile/--json, accepted before and after the subcommand (see ops.migrate)."""
    add_region_profile_options(parser, suppress=suppress)
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print one JSON document on stdout instead of text",
    )


def add_region_profile_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--region/--profile; ``suppress``: a subcommand's copy keeps the group's value."""

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


def add_group(
    groups: Any,
    name: str,
    *,
    help_text: str,
    description: str,
    handler: Callable[[argparse.Namespace], int],
    add_common: Callable[..., None] | None = None,
    **defaults: object,
) -> Any:
    """A command group (migrate, backup, restore): its parser with the exit-code epilog and
    the group's common options (the AWS options unless ``add_common`` says otherwise), its
    handler, and the subparsers its subcommands go into."""
    parser = groups.add_parser(
        name,
        help=help_text,
        description=description,
        epilog=exit_codes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    (add_common or add_aws_options)(parser, suppress=False)
    parser.set_defaults(handler=handler, **defaults)
    return parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")


def add_subcommand(
    commands: Any,
    name: str,
    help_text: str,
    *,
    add_common: Callable[..., None] | None = None,
) -> argparse.ArgumentParser:
    """A subcommand parser with the shared exit-code epilog and the group's common options
    (the AWS options unless ``add_common`` says otherwise), accepted after it too."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=exit_codes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    (add_common or add_aws_options)(parser, suppress=True)
    return parser


def add_env_options(
    parser: argparse.ArgumentParser,
    *,
    required: bool = True,
    suppress: bool = False,
    env_help: str = "environment name (dev, prod, ...): finds DatabaseStack-ENV's resources",
) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--env", required=required, default=default, metavar="ENV", help=env_help)
    parser.add_argument(
        "--ssm-prefix",
        default=default,
        metavar="PATH",
        help="SSM path the stack publishes under "
        "(default: cdk.json's ssm_prefix, else /appdata/ENV)",
    )


def add_database_options(parser: argparse.ArgumentParser, *, suppress: bool, env_help: str) -> None:
    """The database of migrate and access: ``--database-url`` (psycopg) or ``--env`` (Data API),
    with --region/--profile/--json; accepted before and after the subcommand."""
    parser.add_argument(
        "--database-url",
        default=argparse.SUPPRESS if suppress else None,
        help="postgresql://user:password@host:port/dbname, as the owner "
        "(default: $MIGRATIONS_DATABASE_URL, else $DATABASE_URL)",
    )
    add_env_options(parser, required=False, suppress=suppress, env_help=env_help)
    add_aws_options(parser, suppress=suppress)


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


def at_least(minimum: int, *, note: str = "") -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum``; ``note`` explains the bound."""

    def check(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}{note}, got {value}")
        return value

    return check


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value
