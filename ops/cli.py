"""The ``python -m ops`` parser: one subcommand group per concern (migrate; later backup, restore).

Each group module exposes ``register(subparsers)``, which adds its parser and
sets ``handler`` to a function from the parsed arguments to an exit code, so
adding ``backup`` never touches the migrate code.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ops import exit_codes, migrate_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops",
        description="Operator commands for the application database.",
        epilog=exit_codes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    migrate_cmd.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run; argparse itself exits with 2 on usage errors."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
    return code
