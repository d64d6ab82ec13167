"""``python -m ops status --env ENV``: is this environment healthy? One screen, one exit code.

The stack, the alarms in ALARM, the table and its PITR, the cluster and its
instances, the schema version (over the Data API), each resource's newest
backup, and the running backup and restore jobs. Exit 0 when healthy, 7 when
anything alarms, the schema is dirty, a backup is older than cdk.json's
``monitoring.backup_max_age_hours`` allows, or the stack has failed.

This module is the parser; `ops.status.report` runs it (botocore, imported then).
"""

from __future__ import annotations

import argparse
from typing import Any

from ops import exit_codes, options

DEFAULT_WORKERS = 8


def register(groups: Any) -> None:
    """Add ``status`` (no subcommands) to ``python -m ops``."""
    parser = groups.add_parser(
        "status",
        help="is this environment healthy? alarms, stores, schema, backups (exit 7 if not)",
        description=(
            "One screen that answers whether an environment is healthy: stack status, alarms\n"
            "in ALARM, the table and its PITR, the cluster and its instances, the schema\n"
            "version, the newest backup of each resource, and running backup/restore jobs."
        ),
        epilog=exit_codes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_env_options(parser)
    options.add_aws_options(parser, suppress=False)
    parser.add_argument(
        "--max-workers",
        type=options.at_least(1),
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"AWS calls in flight at once (default {DEFAULT_WORKERS}; 1: one after the other)",
    )
    parser.set_defaults(handler=_handler, command="status", connect=None)


def _handler(args: argparse.Namespace) -> int:
    from ops.status.report import run  # noqa: PLC0415 - botocore only when it runs

    return run(args)
