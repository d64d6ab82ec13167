"""``python -m ops restore``: the parser; `ops.restore.start` runs the restores.

That module is imported only when a restore runs: it needs botocore, which
building the parser for ``migrate`` or ``--help`` must not pay for.
"""

from __future__ import annotations

import argparse
from typing import Any

from ops import options


def register(groups: Any) -> None:
    """Add the ``restore`` group to ``python -m ops``."""
    commands = options.add_group(
        groups,
        "restore",
        help_text="restore a backup into a new table or cluster",
        description=(
            "Restore the AppData table, the Aurora cluster or the DocumentDB cluster of one\n"
            "environment into a NEW table or cluster (the live one is never overwritten).\n\n"
            "  dynamodb    --recovery-point ARN | --point-in-time ISO8601|latest  --to-table NAME\n"
            "  aurora      --recovery-point ARN|SNAPSHOT | --point-in-time ISO8601|latest\n"
            "              --to-cluster NAME\n"
            "  documentdb  the same as aurora, for the environment's DocumentDB cluster"
        ),
        handler=_handler,
        connect=None,
    )
    for name, target, what, label in (
        ("dynamodb", "--to-table", "table", "table"),
        ("aurora", "--to-cluster", "cluster", "Aurora cluster"),
        ("documentdb", "--to-cluster", "cluster", "DocumentDB cluster"),
    ):
        parser = options.add_subcommand(commands, name, f"restore the {label} into a new {what}")
        options.add_env_options(parser)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--recovery-point",
            metavar="ARN",
            help="AWS Backup recovery point ARN, native backup ARN"
            + (" or cluster snapshot id" if name != "dynamodb" else "")
            + " (see `backup list`)",
        )
        source.add_argument(
            "--point-in-time",
            metavar="TIME",
            help=f"restore the live {what} as of TIME (ISO 8601 with zone, e.g. "
            "2026-11-14T03:00:00Z) or `latest`",
        )
        parser.add_argument(target, required=True, metavar="NAME", help=f"name of the new {what}")
        options.add_wait_options(parser, "restore")


def _handler(args: argparse.Namespace) -> int:
    # Here, not at the top: these import botocore (see the module docstring).
    from ops import command  # noqa: PLC0415
    from ops.restore import start  # noqa: PLC0415

    body = {
        "dynamodb": start.cmd_dynamodb,
        "aurora": start.cmd_aurora,
        "documentdb": start.cmd_documentdb,
    }[args.command]
    return command.run(args, body)
