"""One exception hierarchy for everything the migration library can refuse or fail at.

Callers (the CLI, the migration Lambda, a CDK construct at synth time) catch
``MigrationError`` and show ``str(error)``: it is always a single line, short
enough for a CloudFormation failure reason (cut at 4 KB) and for a terminal.
The subclasses tell *why*, so each caller can map them to its own outcome
(exit codes, custom-resource status) without parsing messages.
"""

from __future__ import annotations

import re

MAX_MESSAGE_CHARS = 3500
"""Below CloudFormation's 4 KB reason limit, leaving room for a caller's prefix."""

EXCERPT_CHARS = 200

_WHITESPACE = re.compile(r"\s+")


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Collapse all whitespace (newlines included) to single spaces and cut to ``limit``."""
    flat = _WHITESPACE.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def excerpt(sql: str) -> str:
    """The first ~200 characters of a statement, on one line, for error messages."""
    return one_line(sql, EXCERPT_CHARS)


def sqlstate_of(exc: BaseException | None) -> str | None:
    """The SQLSTATE a driver's error carries: ``sqlstate`` (psycopg 3, the Data API's
    errors) or ``pgcode`` (psycopg2)."""
    for name in ("sqlstate", "pgcode"):
        value = getattr(exc, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def db_error_text(exc: BaseException) -> str:
    """PostgreSQL's message from a driver exception, without the driver's context lines.

    psycopg puts the primary message on the first line and adds ``LINE 1: ...``
    context after it; the Data API client puts everything on one line. Taking the
    first non-empty line works for both; the SQLSTATE is added when the driver
    exposes one.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    sqlstate = sqlstate_of(exc)
    if sqlstate and sqlstate not in text:
        text = f"{text} (SQLSTATE {sqlstate})"
    return one_line(text, 1000)


class MigrationError(Exception):
    """Base class; ``str()`` is one line, at most ``MAX_MESSAGE_CHARS`` characters."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    @property
    def message(self) -> str:
        return str(self.args[0])

    def __str__(self) -> str:
        return self.message


class MigrationSourceError(MigrationError):
    """A migration file is misnamed, duplicated, unpaired or otherwise unusable."""


class CompileError(MigrationSourceError):
    """A migration file's SQL does not parse or breaks the transaction rules."""


class BundleError(MigrationError):
    """A serialized bundle is malformed, of an unknown format, or fails its checksum."""


class InvalidRequestError(MigrationError):
    """The command cannot be satisfied with these files (unknown version, no down file...)."""


class StateError(MigrationError):
    """The database's recorded state does not fit the bundle (missing version, race)."""


class LockBusyError(MigrationError):
    """Another migration run (golang-migrate, or this engine) held the lock past the wait."""


class ChecksumMismatchError(MigrationError):
    """An applied migration's file changed after it was applied."""


class DirtyDatabaseError(MigrationError):
    """The database is dirty: a non-transactional migration stopped midway."""


class StatementError(MigrationError):
    """A migration statement failed in PostgreSQL."""


class DirtyStatementError(StatementError, DirtyDatabaseError):
    """A statement of a non-transactional migration failed and left the database dirty."""


class StatementRunningError(DirtyDatabaseError):
    """A no-transaction file's statement is still running on the server past this run's time.

    The version stays dirty while it runs, with the statement recorded
    (``dbmigrate.resume``): the next ``up`` waits for it and carries on with the
    file. ``running_seconds`` is how long it has been running.
    """

    def __init__(self, message: str, *, file: str, statement: str, running_seconds: int) -> None:
        super().__init__(message)
        self.file = file
        self.statement = statement
        self.running_seconds = running_seconds


class ConnectError(MigrationError):
    """The database could not be reached."""


class InvalidConnectionStringError(ConnectError):
    """The connection string itself is malformed (bad input, not an outage)."""
