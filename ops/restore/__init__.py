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
            "Restore the AppData table or the Aurora cluster of one environment into a NEW\n"
            "table or cluster (the live one is never overwritten).\n\n"
            "  dynamodb  --recovery-point ARN | --point-in-time ISO8601|latest  --to-table NAME\n"
            "  aurora    --recovery-point ARN|SNAPSHOT | --point-in-time ISO8601|latest\n"
            "            --to-cluster NAME"
        ),
        handler=_handler,
        connect=None,
    )
    for name, target, what in (
        ("dynamodb", "--to-table", "table"),
        ("aurora", "--to-cluster", "cluster"),
    ):
        help_text = f"restore the {what} into a new {what}"
        parser = options.add_subcommand(commands, name, help_text)
        options.add_env_options(parser)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--recovery-point",
            metavar="ARN",
            help="AWS Backup recovery point ARN, native backup ARN"
            + (" or cluster snapshot id" if name == "aurora" else "")
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

    body = start.cmd_dynamodb if args.command == "dynamodb" else start.cmd_aurora
    return command.run(args, body)
