"""``python -m ops backup``: the parser, and which module runs each subcommand.

``start`` (`ops.backup.start`), ``list`` (`ops.backup.listing`) and ``status``
(`ops.backup.status`) are imported only when one runs: they need botocore,
which building the parser for ``migrate`` or ``--help`` must not pay for.
"""

from __future__ import annotations

import argparse
from typing import Any

from ops import options


def register(groups: Any) -> None:
    """Add the ``backup`` group and its subcommands to ``python -m ops``."""
    commands = options.add_group(
        groups,
        "backup",
        help_text="take on-demand backups, list backups, show job status",
        description=(
            "Backups of the AppData table, the Aurora cluster and, where the environment has\n"
            "one, the DocumentDB cluster.\n\n"
            "  start   on-demand AWS Backup job (or --native DynamoDB backup / cluster snapshot)\n"
            "  list    recovery points, native backups, running jobs, age of the newest good one\n"
            "  status  an AWS Backup backup or restore job, a DynamoDB backup ARN or an RDS\n"
            "          cluster snapshot id; --wait until it ends\n\n"
            "Restores: python -m ops restore dynamodb|aurora|documentdb --help (always into a\n"
            "new table or cluster). Each subcommand's --help lists its options."
        ),
        handler=_handler,
        connect=None,
    )

    start = options.add_subcommand(
        commands, "start", "start an on-demand backup of the table, a cluster or all of them"
    )
    options.add_env_options(start)
    start.add_argument(
        "--target",
        required=True,
        choices=("dynamodb", "aurora", "documentdb", "all"),
        help="what to back up (all: the table, Aurora, and DocumentDB where deployed)",
    )
    start.add_argument(
        "--retention-days",
        type=options.at_least(1),
        metavar="N",
        help="AWS Backup: delete the recovery point after N days (default: the vault's rules)",
    )
    start.add_argument(
        "--native",
        action="store_true",
        help="DynamoDB CreateBackup / RDS or DocumentDB CreateDBClusterSnapshot instead of AWS "
        "Backup (named appdata-ENV-[documentdb-]YYYYMMDD-HHMMSS, kept until deleted)",
    )
    options.add_wait_options(start, "backups")

    listing = options.add_subcommand(
        commands, "list", "list recovery points, native backups and running jobs, with ages"
    )
    options.add_env_options(listing)

    status = options.add_subcommand(
        commands, "status", "show (or --wait for) a backup/restore job, DynamoDB backup or snapshot"
    )
    status.add_argument(
        "job_id",
        metavar="JOB_ID",
        help="AWS Backup job id, DynamoDB backup ARN, or RDS cluster snapshot id/ARN",
    )
    options.add_env_options(status, required=False)
    options.add_wait_options(status, "job")


def _handler(args: argparse.Namespace) -> int:
    # Here, not at the top: these import botocore (see the module docstring).
    from ops import command  # noqa: PLC0415
    from ops.backup import listing, start, status  # noqa: PLC0415

    body = {
        "start": start.cmd_start,
        "list": listing.cmd_list,
        "status": status.cmd_status,
    }[args.command]
    return command.run(args, body)
