"""No-transaction files whose statements outlive one call, or one run, and their continuation.

A ``-- migrate:no-transaction`` file (CREATE INDEX CONCURRENTLY on a large
table) can run for hours: past the Data API's 45-second call, past a Lambda's
15 minutes. golang-migrate's protocol marks the version dirty while it runs;
that row alone cannot tell a file still running from one that failed. So the
engine keeps the missing facts in ``schema_migrations_running``, one row per
running file (golang-migrate ignores the table): which statement of the file
was sent last, when, and the marker comment it was sent behind, so that
``pg_stat_activity`` tells whether it still runs.

A later ``up`` that finds the version dirty with a row for the same up file
(same checksum, and the dirty row still the one written with it) continues it:
it waits while the statement runs, then confirms from the catalog what the
statement was to do (`confirmed`): the index exists and is valid after a
CREATE INDEX CONCURRENTLY, it is gone after a DROP INDEX CONCURRENTLY. Any other
statement, or one whose outcome the catalog contradicts, is left dirty for a
person, as before: an ended statement nobody saw the answer of may have failed.

Each send moves the row's statement index with a compare-and-set, so two runs
continuing the same file never both send the next statement; and a statement
counts as running for `SEND_GRACE_SECONDS` after its claim even before it shows
in ``pg_stat_activity`` (the sender may still be retrying the call).
"""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

from dbmigrate.transport import Executor, Params

RUNNING_TABLE = "schema_migrations_running"

SEND_GRACE_SECONDS = 120
"""Longer than the Data API transport's retries of a call (60 s): a claimed statement not
yet visible is taken for running until then."""

CREATE_RUNNING_TABLE = f"""CREATE TABLE IF NOT EXISTS {RUNNING_TABLE} (
    version bigint PRIMARY KEY,
    direction text NOT NULL,
    checksum text NOT NULL,
    statement_index integer NOT NULL,
    marker text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    applied_by text NOT NULL,
    dirty_xmin text NOT NULL
)"""

CLEAR_RUNNING = f"DELETE FROM {RUNNING_TABLE}"

_DIRTY_XMIN = "(SELECT xmin::text FROM schema_migrations WHERE version = :version)"
"""The transaction that wrote the dirty row: golang-migrate rewriting it (``force``, a
run of its own) changes it, and the row here is no longer about that dirty state."""

_START = (
    f"INSERT INTO {RUNNING_TABLE} "
    "(version, direction, checksum, statement_index, marker, applied_by, dirty_xmin) "
    f"VALUES (:version, :direction, :checksum, -1, '', :applied_by, {_DIRTY_XMIN})"
)

_SEND = (
    f"UPDATE {RUNNING_TABLE} SET statement_index = :index, marker = :marker, "
    "sent_at = clock_timestamp() "
    "WHERE version = :version AND statement_index = :previous RETURNING version"
)

_READ = (
    "SELECT checksum, statement_index, marker, "
    "floor(extract(epoch FROM clock_timestamp() - sent_at))::bigint "
    f"FROM {RUNNING_TABLE} WHERE version = :version AND direction = 'up' "
    f"AND dirty_xmin = {_DIRTY_XMIN}"
)

_VISIBLE = """\
SELECT count(*) > 0 FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND state = 'active'
  AND starts_with(query, :marker)"""

_TABLE_EXISTS = f"SELECT to_regclass('{RUNNING_TABLE}') IS NOT NULL"

_INDEX_STATE = (
    "SELECT CASE WHEN to_regclass(:name) IS NULL THEN 'missing' "
    "WHEN (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)) "
    "THEN 'valid' ELSE 'invalid' END"
)
_TABLE_INDEX_STATE = (
    "SELECT coalesce((SELECT CASE WHEN i.indisvalid THEN 'valid' ELSE 'invalid' END "
    "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = to_regclass(:table) AND c.relname = :name), 'missing')"
)
"""An index is made in its table's schema, whatever the search_path: look for it there."""

_LEADING_COMMENTS = r"^(?:\s+|--[^\n]*\n|/\*.*?\*/)*"
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_QUALIFIED = rf"{_NAME}(?:\s*\.\s*{_NAME})?"
_CREATE_INDEX = (
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?P<name>{_NAME})\s+ON\s+(?:ONLY\s+)?(?P<table>{_QUALIFIED})[\s(]"
)
_DROP_INDEX = rf"DROP\s+INDEX\s+CONCURRENTLY\s+(?:IF\s+EXISTS\s+)?(?P<name>{_QUALIFIED})\s*$"
"""Compiled on first use (`_patterns`): only a statement whose answer was lost needs them,
and compiling them cost every CLI start 5 ms."""


class Running(NamedTuple):
    """The recorded progress of a no-transaction file: ``index`` is the statement sent last
    (-1: none yet), ``seconds`` how long ago it was sent."""

    version: int
    checksum: str
    index: int  # type: ignore[assignment] # shadows tuple.index, which nothing calls
    marker: str
    seconds: int


def marker(version: int, index: int, count: int, checksum: str) -> str:
    """The comment a no-transaction statement is sent behind, to find it in pg_stat_activity.

    It names the file's version, the statement and the file's content, so that it
    matches this statement of this file only; PostgreSQL ignores it.
    """
    return f"/* dbmigrate {version} statement {index + 1}/{count} {checksum[:16]} */ "


def start(tx: Executor, version: int, direction: str, checksum: str, applied_by: str) -> None:
    """In the transaction that marks ``version`` dirty: a fresh row, nothing sent yet."""
    tx.execute(CREATE_RUNNING_TABLE)
    tx.execute(CLEAR_RUNNING)
    params: Params = {
        "version": version,
        "direction": direction,
        "checksum": checksum,
        "applied_by": applied_by,
    }
    tx.execute(_START, params)


def claim(executor: Executor, version: int, index: int, marker_text: str) -> bool:
    """Record that statement ``index`` is sent now; False if another run already moved on."""
    params: Params = {
        "version": version,
        "index": index,
        "marker": marker_text,
        "previous": index - 1,
    }
    return bool(executor.execute(_SEND, params))


def read(executor: Executor, version: int) -> Running | None:
    """The row of the dirty ``version``'s up file, if this engine left one and that dirty row
    is still the one it wrote."""
    exists = executor.execute(_TABLE_EXISTS)
    if not (exists and exists[0][0]):
        return None
    rows = executor.execute(_READ, {"version": version})
    if not rows:
        return None
    checksum, index, marker_text, seconds = rows[0]
    return Running(version, str(checksum), _int(index), str(marker_text), _int(seconds))


def visible(executor: Executor, running: Running) -> bool:
    """Whether a backend runs the statement sent behind ``running.marker`` now."""
    if running.index < 0 or not running.marker:
        return False
    rows = executor.execute(_VISIBLE, {"marker": running.marker})
    return bool(rows and rows[0][0])


class Watch:
    """Whether a recorded statement is still running, across the polls of one wait.

    Seen running and then gone: it ended. Never seen: it counts as running until
    `SEND_GRACE_SECONDS` after its claim (the sender may still be retrying the call).
    """

    def __init__(self, executor: Executor, running: Running) -> None:
        self._executor = executor
        self._running = running
        self._seen = False

    def running(self, waited: float) -> bool:
        """``waited``: seconds since ``running`` was read."""
        if visible(self._executor, self._running):
            self._seen = True
            return True
        if self._running.index < 0 or self._seen:
            return False
        return self._running.seconds + waited < SEND_GRACE_SECONDS


def confirmed(executor: Executor, sql: str) -> str | None:
    """None if the catalog shows that ``sql`` did what it says; else why it cannot be taken
    as done (what the catalog shows, or that it cannot tell)."""
    leading, create_index, drop_index = _patterns()
    text = leading.sub("", sql, count=1)
    create = create_index.match(text)
    if create is not None:
        name, table = create.group("name"), create.group("table")
        params: Params = {"table": table, "name": _bare(name)}
        rows = executor.execute(_TABLE_INDEX_STATE, params)
        state = str(rows[0][0]) if rows else "missing"
        return None if state == "valid" else f"index {name} is {state}"
    drop = drop_index.match(text)
    if drop is not None:
        if _index_state(executor, drop.group("name")) == "missing":
            return None
        return f"index {drop.group('name')} still exists"
    return "its outcome cannot be read from the catalog (only CREATE and DROP INDEX CONCURRENTLY)"


def clear(executor: Executor) -> None:
    """Forget every running row (the table may not exist: nothing ever ran without one)."""
    exists = executor.execute(_TABLE_EXISTS)
    if exists and exists[0][0]:
        executor.execute(CLEAR_RUNNING)


def dirty_key(version: int | None) -> int:
    """The row's key: the dirty version, -1 for "no version" (as golang-migrate records it)."""
    return -1 if version is None else version


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    return (
        re.compile(_LEADING_COMMENTS, re.DOTALL),
        re.compile(_CREATE_INDEX, re.IGNORECASE),
        re.compile(_DROP_INDEX, re.IGNORECASE),
    )


def _bare(name: str) -> str:
    """An identifier as the catalog stores it: unquoted folds to lower case."""
    if name.startswith('"'):
        return name[1:-1].replace('""', '"')
    return name.lower()


def _index_state(executor: Executor, name: str) -> str:
    rows = executor.execute(_INDEX_STATE, {"name": name})
    return str(rows[0][0]) if rows else "missing"


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float | str) else 0
