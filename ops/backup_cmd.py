"""``python -m ops backup``: the parser, and which module runs each subcommand.

``start`` is `ops.backup_start`, ``list`` `ops.backup_list`, ``status``
`ops.backup_status`.
"""

from __future__ import annotations

import argparse
from typing import Any

from ops import backup_list, backup_start, backup_status, command, exit_codes


def register(groups: Any) -> None:
    """Add the ``backup`` group and its subcommands to ``python -m ops``."""
    backup = groups.add_parser(
        "backup",
        help="take on-demand backups, list backups, show job status",
        description=(
            "Backups of the AppData table and the Aurora cluster of one environment.\n\n"
            "  start   on-demand AWS Backup job (or --native DynamoDB backup / RDS snapshot)\n"
            "  list    recovery points, native backups, running jobs, age of the newest good one\n"
            "  status  an AWS Backup backup or restore job, a DynamoDB backup ARN or an RDS\n"
            "          cluster snapshot id; --wait until it ends\n\n"
            "Restores: python -m ops restore dynamodb|aurora --help (always into a new\n"
            "table or cluster). Each subcommand's --help lists its options."
        ),
        epilog=exit_codes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_aws_options(backup, suppress=False)
    backup.set_defaults(handler=_handler, connect=None)
    commands = backup.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    start = command.add_subcommand(
        commands, "start", "start an on-demand backup of the table, the cluster or both"
    )
    command.add_env_options(start)
    start.add_argument(
        "--target", required=True, choices=("dynamodb", "aurora", "all"), help="what to back up"
    )
    start.add_argument(
        "--retention-days",
        type=_positive,
        metavar="N",
        help="AWS Backup: delete the recovery point after N days (default: the vault's rules)",
    )
    start.add_argument(
        "--native",
        action="store_true",
        help="DynamoDB CreateBackup / RDS CreateDBClusterSnapshot instead of AWS Backup "
        "(named appdata-ENV-YYYYMMDD-HHMMSS, kept until deleted)",
    )
    command.add_wait_options(start, "backups")

    listing = command.add_subcommand(
        commands, "list", "list recovery points, native backups and running jobs, with ages"
    )
    command.add_env_options(listing)

    status = command.add_subcommand(
        commands, "status", "show (or --wait for) a backup/restore job, DynamoDB backup or snapshot"
    )
    status.add_argument(
        "job_id",
        metavar="JOB_ID",
        help="AWS Backup job id, DynamoDB backup ARN, or RDS cluster snapshot id/ARN",
    )
    command.add_env_options(status, required=False)
    command.add_wait_options(status, "job")


def _handler(args: argparse.Namespace) -> int:
    body = {
        "start": backup_start.cmd_start,
        "list": backup_list.cmd_list,
        "status": backup_status.cmd_status,
    }[args.command]
    return command.run(args, body)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
