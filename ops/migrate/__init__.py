"""``python -m ops migrate``: golang-migrate's commands, run by the dbmigrate engine.

The database is ``--database-url`` (or ``MIGRATIONS_DATABASE_URL``, ``DATABASE_URL``:
`ops.database`), through psycopg, or
``--env ENV``: the deployed environment's cluster through the RDS Data API
(`ops.data_api`, imported only then, because it needs boto3).

This module is the parser; `ops.migrate.run` runs a command, and is imported
only then: building the parser for another command group or ``--help`` does
not import psycopg.
"""

from __future__ import annotations

import argparse
from typing import Any

from dbmigrate.lock_waits import DATA_API_MAX_LOCK_WAIT_MS, DEFAULT_LOCK_WAIT_MS
from ops import options

DEFAULT_DIR = "migrations"
DEFAULT_LOCK_WAIT_SECONDS = DEFAULT_LOCK_WAIT_MS // 1000
DATA_API_MAX_LOCK_WAIT_SECONDS = DATA_API_MAX_LOCK_WAIT_MS // 1000


def register(groups: Any) -> None:
    """Add the ``migrate`` group and its subcommands to ``python -m ops``."""
    commands = options.add_group(
        groups,
        "migrate",
        help_text="apply, revert and inspect schema migrations",
        description="Schema migrations in golang-migrate format, applied by dbmigrate.",
        handler=_handler,
        add_common=_add_common,
    )

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return options.add_subcommand(commands, name, help_text, add_common=_add_common)

    up = add("up", "apply all pending migrations, or the next N")
    up.add_argument("n", nargs="?", type=options.at_least(1), metavar="N")
    down = add("down", "revert the last N applied migrations (N is required, or --all)")
    which = down.add_mutually_exclusive_group(required=True)
    which.add_argument("n", nargs="?", type=options.at_least(1), metavar="N")
    which.add_argument("--all", action="store_true", help="revert every applied migration")
    goto = add("goto", "migrate up or down to version V")
    goto.add_argument("version", type=options.at_least(0), metavar="V")
    add("version", "print the current version (exit 3 if dirty)")
    force = add("force", "record version V as current and clean, running nothing (-1: none)")
    no_version = options.at_least(-1, note=" (-1 means no version)")
    force.add_argument("version", type=no_version, metavar="V")
    add("plan", "show what `up` would apply, without applying it")
    create = add("create", "create the next empty NNNNNN_NAME.up.sql / .down.sql pair")
    create.add_argument("name", metavar="NAME")


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted both before and after the subcommand.

    On subcommands their default is SUPPRESS, so a value given before the
    subcommand is not overwritten by the subcommand's default.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    options.add_database_options(
        parser,
        suppress=suppress,
        env_help="a deployed environment (dev, prod, ...) instead of a database URL: runs over "
        "the RDS Data API on DatabaseStack-ENV's cluster, found from its SSM parameters "
        "(else its stack outputs)",
    )
    parser.add_argument(
        "--dir", default=default(DEFAULT_DIR), help=f"migrations directory (default: {DEFAULT_DIR})"
    )
    parser.add_argument(
        "--lock-wait",
        type=options.at_least(1),
        default=default(DEFAULT_LOCK_WAIT_SECONDS),
        metavar="SECONDS",
        help="how long to wait for another migration run (golang-migrate's `migrate`, or this "
        f"one) to release the migration lock before giving up with exit 8 (default: "
        f"{DEFAULT_LOCK_WAIT_SECONDS}; at most {DATA_API_MAX_LOCK_WAIT_SECONDS} with --env)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        default=default(False),
        help="parse every migration file again instead of reusing unchanged files' "
        "compilation from $XDG_CACHE_HOME/dbmigrate (default ~/.cache/dbmigrate)",
    )


def _handler(args: argparse.Namespace) -> int:
    from ops.migrate.run import run  # noqa: PLC0415 - psycopg only when a migrate command runs

    return run(args)
