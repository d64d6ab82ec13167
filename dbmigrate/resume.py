"""No-transaction files whose statements outlive one call, or one run, and their continuation.

A ``-- migrate:no-transaction`` file (CREATE INDEX CONCURRENTLY on a large
table) can run for hours: past the Data API's 45-second call, past a Lambda's
15 minutes. golang-migrate's protocol marks the version dirty while it runs;
that row alone cannot tell a file still running from one that failed. So the
engine keeps the missing facts in ``schema_migrations_running``, one row per
running file (golang-migrate ignores the table):

* which statement of the file was sent last, and the marker comment it was sent
  with, so that ``pg_stat_activity`` tells whether it still runs;
* the invalid indexes before it was sent: a CREATE INDEX CONCURRENTLY that fails
  or is cancelled leaves an invalid index, the one outcome still visible when
  nobody received the statement's answer.

A later ``up`` that finds the version dirty with a row for the same file (same
checksum, and the dirty row still the one written with it) continues it: waits
while the statement runs, refuses if it left a new invalid index, then sends
the statements after it. Each send moves the
row's statement index with a compare-and-set, so two runs continuing the same
file never both send the next statement. Without a row (a statement failed and
was reported; golang-migrate's own dirty mark) the database stays dirty for a
person to force, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbmigrate.transport import Executor, Params

RUNNING_TABLE = "schema_migrations_running"

CREATE_RUNNING_TABLE = f"""CREATE TABLE IF NOT EXISTS {RUNNING_TABLE} (
    version bigint PRIMARY KEY,
    checksum text NOT NULL,
    statement_index integer NOT NULL,
    marker text NOT NULL,
    invalid_before text[] NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    applied_by text NOT NULL,
    dirty_xmin text NOT NULL
)"""

CLEAR_RUNNING = f"DELETE FROM {RUNNING_TABLE}"

_INVALID_INDEXES = (
    "ARRAY(SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid ORDER BY 1)"
)

_DIRTY_XMIN = "(SELECT xmin::text FROM schema_migrations WHERE version = :version)"
"""The transaction that wrote the dirty row: golang-migrate rewriting it (``force``, a
run of its own) changes it, and the row here is no longer about that dirty state."""

_START = (
    f"INSERT INTO {RUNNING_TABLE} "
    "(version, checksum, statement_index, marker, invalid_before, applied_by, dirty_xmin) "
    f"VALUES (:version, :checksum, -1, '', {_INVALID_INDEXES}, :applied_by, {_DIRTY_XMIN})"
)

_SEND = (
    f"UPDATE {RUNNING_TABLE} SET statement_index = :index, marker = :marker, "
    f"invalid_before = {_INVALID_INDEXES}, sent_at = clock_timestamp() "
    "WHERE version = :version AND statement_index = :previous RETURNING version"
)

_READ = (
    "SELECT checksum, statement_index, marker, "
    "floor(extract(epoch FROM clock_timestamp() - sent_at))::bigint "
    f"FROM {RUNNING_TABLE} WHERE version = :version AND dirty_xmin = {_DIRTY_XMIN}"
)

_STILL_RUNNING = """\
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND state = 'active'
  AND starts_with(query, :marker)"""

_NEW_INVALID = (
    "SELECT string_agg(name, ', ' ORDER BY name) FROM ("
    f"SELECT unnest({_INVALID_INDEXES}) AS name "
    f"EXCEPT SELECT unnest(invalid_before) FROM {RUNNING_TABLE} WHERE version = :version) n"
)

_TABLE_EXISTS = f"SELECT to_regclass('{RUNNING_TABLE}') IS NOT NULL"


@dataclass(frozen=True)
class Running:
    """The recorded progress of a no-transaction file: ``index`` is the statement sent last
    (-1: none yet), ``seconds`` how long ago it was sent."""

    version: int
    checksum: str
    index: int
    marker: str
    seconds: int


def marker(version: int, index: int, count: int, checksum: str) -> str:
    """The comment a no-transaction statement is sent behind, to find it in pg_stat_activity.

    It names the file's version, the statement and the file's content, so that it
    matches this statement of this file only; PostgreSQL ignores it.
    """
    return f"/* dbmigrate {version} statement {index + 1}/{count} {checksum[:16]} */ "


def start(tx: Executor, version: int, checksum: str, applied_by: str) -> None:
    """In the transaction that marks ``version`` dirty: a fresh row, nothing sent yet."""
    tx.execute(CREATE_RUNNING_TABLE)
    tx.execute(CLEAR_RUNNING)
    params: Params = {"version": version, "checksum": checksum, "applied_by": applied_by}
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
    """The row of the dirty ``version``, if this engine left one and that dirty row is still
    the one it wrote."""
    exists = executor.execute(_TABLE_EXISTS)
    if not (exists and exists[0][0]):
        return None
    rows = executor.execute(_READ, {"version": version})
    if not rows:
        return None
    checksum, index, marker_text, seconds = rows[0]
    return Running(version, str(checksum), _int(index), str(marker_text), _int(seconds))


def still_running(executor: Executor, running: Running) -> bool:
    """Whether a backend is still running the statement sent behind ``running.marker``."""
    if running.index < 0 or not running.marker:
        return False
    rows = executor.execute(_STILL_RUNNING, {"marker": running.marker})
    return bool(rows and _int(rows[0][0]))


def new_invalid_indexes(executor: Executor, version: int) -> str | None:
    """Indexes invalid now that were not before the last statement was sent, or None."""
    rows = executor.execute(_NEW_INVALID, {"version": version})
    found = rows[0][0] if rows else None
    return str(found) if found else None


def clear(executor: Executor) -> None:
    """Forget every running row (the table may not exist: nothing ever ran without one)."""
    exists = executor.execute(_TABLE_EXISTS)
    if exists and exists[0][0]:
        executor.execute(CLEAR_RUNNING)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float | str) else 0
