"""The recorded state: golang-migrate's ``schema_migrations`` row, this engine's history.

State is kept exactly as golang-migrate keeps it, so either tool can continue
where the other stopped: one row in ``schema_migrations (version, dirty)``,
deleted and re-inserted on every change, an empty table meaning "no version".
``schema_migrations_history`` is this engine's own: each applied file's sha256,
time and duration, so that an edited, already-applied file can be refused.

Every statement here is written once, as text with ``:name`` placeholders, and
sent by the engine through any ``Executor``.
"""

from __future__ import annotations

from typing import NamedTuple

from dbmigrate.errors import StateError
from dbmigrate.locks import (
    LOCK_DECLARATIONS,
    LOCK_PARAMETERS,
    TAKE_LOCKS,
    Limits,
    constants,
    lock_values,
)
from dbmigrate.transport import Executor, Params, SqlValue

VERSION_TABLE = "schema_migrations"

CREATE_VERSION_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
    "(version bigint not null primary key, dirty boolean not null)"
)
CREATE_HISTORY_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version bigint NOT NULL,
    name text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('up', 'down', 'force')),
    checksum text,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms bigint NOT NULL,
    applied_by text NOT NULL
)"""

READ_STATE_SQL = "SELECT version, dirty FROM schema_migrations LIMIT 1"

STALE_STATE_SQLSTATE = "DMG01"
"""Raised by ``guard_sql`` when the recorded state is not the one expected."""

STARTED_SETTING = "dbmigrate.started"
"""Transaction-local: when the guard got the lock, for the history's server-side duration."""

SERVER_DURATION_SQL = (
    f"(extract(epoch FROM clock_timestamp() - current_setting('{STARTED_SETTING}')"
    "::timestamptz) * 1000)::bigint"
)

_HISTORY_CTE = (
    "h AS (INSERT INTO schema_migrations_history "
    "(version, name, direction, checksum, duration_ms, applied_by) VALUES "
    "(:h_version, :h_name, :h_direction, :h_checksum, {duration}, :h_applied_by))"
)
_SET_STATE = (
    "INSERT INTO schema_migrations (version, dirty) VALUES (:version, :dirty) "
    "ON CONFLICT (version) DO UPDATE SET dirty = EXCLUDED.dirty"
)
_DELETE_OTHERS_CTE = "d AS (DELETE FROM schema_migrations WHERE version <> :version)"


class VersionState(NamedTuple):
    """The database's recorded version (None: no migration applied) and dirty flag."""

    version: int | None
    dirty: bool


CLEAN_EMPTY = VersionState(None, dirty=False)


class HistoryRow(NamedTuple):
    """One ``schema_migrations_history`` row; ``duration_ms`` None: measured by the server."""

    version: int
    name: str
    direction: str
    checksum: str | None
    duration_ms: int | None
    applied_by: str

    def params(self) -> dict[str, SqlValue]:
        values: dict[str, SqlValue] = {
            "h_version": self.version,
            "h_name": self.name,
            "h_direction": self.direction,
            "h_checksum": self.checksum,
            "h_applied_by": self.applied_by,
        }
        if self.duration_ms is not None:
            values["h_duration_ms"] = self.duration_ms
        return values


def read_state(executor: Executor) -> VersionState:
    """golang-migrate's read: the single row, or none; version -1 also means none."""
    rows = executor.execute(READ_STATE_SQL)
    if not rows:
        return CLEAN_EMPTY
    version, dirty = as_version(rows[0][0]), bool(rows[0][1])
    return VersionState(None if version == -1 else version, dirty)


def write_state_sql(
    version: int | None, *, dirty: bool, record: HistoryRow | None = None
) -> tuple[str, Params]:
    """The one statement that records ``(version, dirty)`` and, with ``record``, a history row.

    Data-modifying CTEs run together on one snapshot. The row is written as
    golang-migrate would leave it: every other row deleted, the new one inserted,
    or updated in place when it is the same version (the dirty protocol marks
    clean the row it marked dirty).
    """
    history: dict[str, SqlValue] = {} if record is None else record.params()
    ctes = []
    if record is not None:
        duration = SERVER_DURATION_SQL if record.duration_ms is None else ":h_duration_ms"
        ctes.append(_HISTORY_CTE.format(duration=duration))
    if version is None and not dirty:
        sql = "DELETE FROM schema_migrations"
        return (f"WITH {', '.join(ctes)} {sql}" if ctes else sql), history
    ctes.insert(0, _DELETE_OTHERS_CTE)
    params: dict[str, SqlValue] = {"version": -1 if version is None else version, "dirty": dirty}
    return f"WITH {', '.join(ctes)} {_SET_STATE}", {**params, **history}


def write_state(
    executor: Executor, version: int | None, *, dirty: bool, record: HistoryRow | None = None
) -> None:
    """Record the state (and history) in one round trip; see ``write_state_sql``."""
    sql, params = write_state_sql(version, dirty=dirty, record=record)
    executor.execute(sql, params)


_GUARD_DECLARATIONS = (
    LOCK_DECLARATIONS
    + """
    found_version bigint;
    found_dirty boolean;"""
)
_GUARD_STATEMENTS = (
    TAKE_LOCKS
    + f"""
    PERFORM set_config('{STARTED_SETTING}', clock_timestamp()::text, true);
    SELECT version, dirty INTO found_version, found_dirty FROM schema_migrations LIMIT 1;
    IF coalesce(found_version, -1) <> want_version
            OR coalesce(found_dirty, false) <> want_dirty THEN
        RAISE EXCEPTION 'schema_migrations changed since it was read: % (dirty %)',
            coalesce(found_version, -1), coalesce(found_dirty, false)
            USING ERRCODE = '{STALE_STATE_SQLSTATE}';
    END IF;"""
)
_GUARD_PARAMETERS = (
    *LOCK_PARAMETERS,
    ("want_version", "bigint"),
    ("want_dirty", "boolean"),
)

GUARD_FUNCTION = "pg_temp.dbmigrate_guard"
"""The guard as a function of this session only (``pg_temp``: never seen by others,
dropped with the session), so PL/pgSQL compiles it and plans its statements once
per session rather than once per file, as it must for a ``DO`` block."""

CREATE_GUARD_FUNCTION_SQL = (
    f"CREATE OR REPLACE FUNCTION {GUARD_FUNCTION}("
    + ", ".join(f"{name} {kind}" for name, kind in _GUARD_PARAMETERS)
    + ") RETURNS void LANGUAGE plpgsql AS $dbmigrate$\nDECLARE"
    + _GUARD_DECLARATIONS
    + "\nBEGIN"
    + _GUARD_STATEMENTS
    + "\nEND\n$dbmigrate$"
)


def guard_sql(limits: Limits, *, expected: VersionState, function: bool = False) -> str:
    """One statement opening a file's transaction in a batch: locks, timeouts, state check.

    It takes the locks and sets the timeouts as ``transaction_lock_sql`` does, notes
    when it got the locks, then reads the state; if it is not ``expected`` it
    raises SQLSTATE ``STALE_STATE_SQLSTATE``, before the file's first statement
    runs. PL/pgSQL reads with a new snapshot per statement, so the read sees what
    a runner that held the lock committed. ``function``: call ``GUARD_FUNCTION``
    (created by ``CREATE_GUARD_FUNCTION_SQL``) rather than send the same code as
    a ``DO`` block. Only validated integers are inlined.
    """
    if function:
        return f"SELECT {GUARD_FUNCTION}({', '.join(_guard_values(limits, expected))})"
    declarations, statements = guard_parts(limits, expected)
    return f"DO $dbmigrate$\nDECLARE{declarations}\nBEGIN{statements}\nEND\n$dbmigrate$"


def guard_parts(limits: Limits, expected: VersionState) -> tuple[str, str]:
    """The guard's PL/pgSQL, ``DECLARE`` lines and statements, for a block built around it."""
    declarations = constants(_GUARD_PARAMETERS, _guard_values(limits, expected))
    return declarations + _GUARD_DECLARATIONS, _GUARD_STATEMENTS


def _guard_values(limits: Limits, expected: VersionState) -> tuple[str, ...]:
    return (
        *lock_values(limits),
        str(-1 if expected.version is None else int(expected.version)),
        "true" if expected.dirty else "false",
    )


def as_version(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise StateError(f"unexpected version value {value!r} in schema_migrations")
    return int(value)
