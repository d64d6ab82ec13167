"""``python -m ops documents plan|apply``: the document store's indexes, as `documents` declares.

The database is ``--mongodb-url`` (default ``$MONGODB_URL``), a MongoDB URL that
names the database (``mongodb://host:27017/appdata``): MongoDB, FerretDB or
DocumentDB. ``plan`` shows what ``apply`` would create; a declared index that
differs from the live one is refused with one line naming it and never dropped.

This module is the parser; `ops.documents.run` runs a command (pymongo, imported then).
"""

from __future__ import annotations

import argparse
from typing import Any

from ops import options

URL_VARIABLE = "MONGODB_URL"


def register(groups: Any) -> None:
    """Add the ``documents`` group and its subcommands to ``python -m ops``."""
    commands = options.add_group(
        groups,
        "documents",
        help_text="plan or apply the document store's indexes (MONGODB_URL)",
        description=(
            "The document store's collections and indexes (documents/collections.py) in a\n"
            "MongoDB-wire database: missing indexes are created; one whose options differ is\n"
            "refused, never dropped.\n\n"
            "  plan   what apply would create, without changing anything\n"
            "  apply  create the missing indexes (none if one conflicts)"
        ),
        handler=_handler,
        add_common=_add_common,
    )
    options.add_subcommand(commands, "plan", "show what `apply` would do", add_common=_add_common)
    options.add_subcommand(
        commands, "apply", "create the declared indexes that are missing", add_common=_add_common
    )


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--mongodb-url",
        default=default,
        metavar="URL",
        help=f"mongodb://host:port/DATABASE (default: ${URL_VARIABLE})",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print one JSON document on stdout instead of text",
    )


def _handler(args: argparse.Namespace) -> int:
    from ops.documents.run import run  # noqa: PLC0415 - pymongo only when it runs

    return run(args)
