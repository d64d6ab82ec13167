"""``python -m ops access plan|apply``: the application roles of cdk.json, in a database.

The roles come from cdk.json's ``access.roles`` (the environment's), and the
same reconciler the deploy runs brings the database to them (`dbaccess`). The
database is ``--env ENV`` (the deployed cluster over the RDS Data API, IAM
required) or ``--database-url`` (any PostgreSQL, as its owner; roles from
``--config-env``, default dev; ``rds_iam`` granted only where it exists).

This module is the parser; `ops.access.run` runs a command, imported only then.
"""

from __future__ import annotations

import argparse
from typing import Any

from ops import options

DEFAULT_CONFIG_ENV = "dev"


def register(groups: Any) -> None:
    """Add the ``access`` group and its subcommands to ``python -m ops``."""
    commands = options.add_group(
        groups,
        "access",
        help_text="plan or apply the application database roles (access.roles in cdk.json)",
        description=(
            "The application roles of an environment (cdk.json access.roles): LOGIN roles with\n"
            "IAM authentication, granted exactly their level's privileges. A role removed from\n"
            "the configuration is disabled, never dropped; a role the reconciler did not create\n"
            "is refused.\n\n"
            "  plan   what apply would change, without changing anything\n"
            "  apply  apply it in one transaction (all or nothing)"
        ),
        handler=_handler,
        add_common=_add_common,
    )
    options.add_subcommand(
        commands, "plan", "show what `apply` would change", add_common=_add_common
    )
    options.add_subcommand(
        commands, "apply", "bring the roles to the configuration", add_common=_add_common
    )


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Accepted before and after the subcommand (see `ops.migrate`)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    options.add_database_options(
        parser,
        suppress=suppress,
        env_help="a deployed environment (dev, prod, ...): its access.roles, applied over the "
        "RDS Data API to DatabaseStack-ENV's cluster",
    )
    parser.add_argument(
        "--config-env",
        default=default(None),
        metavar="NAME",
        help="with --database-url: whose access.roles in cdk.json to use "
        f"(default: {DEFAULT_CONFIG_ENV})",
    )


def _handler(args: argparse.Namespace) -> int:
    from ops.access.run import run  # noqa: PLC0415 - psycopg only when an access command runs

    return run(args)
