"""The ``python -m ops`` parser: one subcommand group per concern (migrate, backup, restore,
access, status, guard, documents).

Each group module exposes ``register(subparsers)``, which adds its parser and
sets ``handler`` to a function from the parsed arguments to an exit code, so
adding ``backup`` never touches the migrate code. Building the parser imports
no boto3/botocore: the AWS-facing handlers import them when they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any

from ops import exit_codes

if TYPE_CHECKING:
    from ops.command import Connect  # imports botocore


GROUPS = ("migrate", "backup", "restore", "access", "status", "guard", "documents")
"""The command groups, in ``--help`` order: each is the package ``ops.NAME``."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` the one group a command line names: the others'
    modules would be imported and their parsers built for nothing (a fifth of a ``migrate
    version``'s start-up here), and every message and help text of that group is the same
    either way."""
    parser = argparse.ArgumentParser(
        prog="python -m ops",
        description="Operator commands for the application database.",
        epilog=exit_codes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for name in GROUPS:
        if only is None or name == only:
            register: Callable[[Any], None] = import_module(f"ops.{name}").register
            register(groups)
    return parser


def main(argv: Sequence[str] | None = None, *, connect: Connect | None = None) -> int:
    """Parse and run; argparse itself exits with 2 on usage errors.

    ``connect`` replaces how the AWS commands build their clients (tests pass
    clients wrapped in botocore's Stubber).
    """
    words = list(sys.argv[1:] if argv is None else argv)
    only = words[0] if words and words[0] in GROUPS else None
    args = build_parser(only).parse_args(words)
    if connect is not None:
        args.connect = connect
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
    return code
