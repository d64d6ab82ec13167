"""Which database a migrate or access command works on: a URL (psycopg) or ``--env`` (Data API).

Both commands act as the database's owner, so the URL comes from
``--database-url``, else ``MIGRATIONS_DATABASE_URL`` (what ``make local`` writes
for the owner), else ``DATABASE_URL``. ``make local`` points ``DATABASE_URL``
at ``app_rw``, the application's role, which could not migrate anything.
"""

from __future__ import annotations

import argparse
import os

from ops import exit_codes
from ops.errors import OpsError

URL_VARIABLES = ("MIGRATIONS_DATABASE_URL", "DATABASE_URL")
_AWS_ONLY = ("ssm_prefix", "region", "profile")


def owner_url(args: argparse.Namespace) -> str | None:
    """The psycopg URL, or None for ``--env``; exactly one database must be named."""
    given = [name for name in URL_VARIABLES if os.environ.get(name)]
    if args.env:
        if args.database_url or given:
            what = "--database-url" if args.database_url else f"{given[0]} (unset it)"
            message = f"--env and {what} both name a database: use one of them"
            raise OpsError(message, exit_codes.USAGE)
        return None
    for flag in _AWS_ONLY:
        if getattr(args, flag, None):
            raise OpsError(f"--{flag.replace('_', '-')} applies only with --env", exit_codes.USAGE)
    url: str | None = args.database_url or next((os.environ[n] for n in given), None)
    if not url:
        raise OpsError(
            "no database: pass --database-url (or set MIGRATIONS_DATABASE_URL or DATABASE_URL), "
            "or --env ENV for a deployed environment over the RDS Data API",
            exit_codes.USAGE,
        )
    return url
