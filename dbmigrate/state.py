"""The recorded state: golang-migrate's ``schema_migrations`` row, this engine's history, the lock.

State is kept exactly as golang-migrate keeps it, so either tool can continue
where the other stopped: one row in ``schema_migrations (version, dirty)``,
deleted and re-inserted on every change, an empty table meaning "no version".
``schema_migrations_history`` is this engine's own: each applied file's sha256,
time and duration, so that an edited, already-applied file can be refused.

Every statement here is written once, as text with ``:name`` placeholders, and
sent by the engine through any ``Executor``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from dbmigrate.errors import StateError
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

GOLANG_MIGRATE_LOCK_SALT = 1_486_364_155
"""golang-migrate's ``advisoryLockIDSalt`` (database/util.go)."""

IDENTITY_SQL = "SELECT current_database(), current_schema()"
"""What golang-migrate's postgres driver derives its lock key from, besides the table."""


def golang_migrate_lock_key(database: str, schema: str, table: str = VERSION_TABLE) -> int:
    """An advisory lock key as golang-migrate's postgres driver derives it.

    ``database.GenerateAdvisoryLockId(db, schema, table)``: the CRC-32 (IEEE) of
    ``schema NUL table NUL db`` times the salt, in uint32 arithmetic.
    """
    checksum = zlib.crc32(f"{schema}\0{table}\0{database}".encode())
    return (checksum * GOLANG_MIGRATE_LOCK_SALT) % 2**32


def golang_migrate_lock_keys(database: str, schema: str) -> tuple[int, int]:
    """Both keys a golang-migrate run on this database and schema may hold.

    The ``migrate`` CLI names the database by its URL's path, leading slash
    included (``/app`` for ``postgres://host/app``: measured in pg_locks, v4.20.1);
    a URL without a path, and programs that pass golang-migrate a connection,
    use ``current_database()`` (``app``). Taking both excludes either.
    """
    return golang_migrate_lock_key(f"/{database}", schema), golang_migrate_lock_key(
        database, schema
    )


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


@dataclass(frozen=True)
class Limits:
    """The advisory locks, how long to wait for them, and the per-transaction timeouts.

    Validated by the engine. ``golang_migrate_keys`` is empty until the engine has
    read which database and schema it is in (``IDENTITY_SQL``).
    """

    lock_key: int
    lock_wait_ms: int
    lock_timeout_ms: int
    statement_timeout_ms: int
    applied_by: str
    golang_migrate_keys: tuple[int, ...] = ()

    @property
    def lock_keys(self) -> tuple[int, ...]:
        """golang-migrate's keys first, then this engine's: every runner takes them in order."""
        return (*self.golang_migrate_keys, self.lock_key)


@dataclass(frozen=True)
class VersionState:
    """The database's recorded version (None: no migration applied) and dirty flag."""

    version: int | None
    dirty: bool


CLEAN_EMPTY = VersionState(None, dirty=False)


@dataclass(frozen=True)
class HistoryRow:
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


LOCK_BUSY_SQLSTATE = "DMG02"
"""Raised by the lock statements when a lock was not granted within the wait."""

_TAKE_LOCKS = f"""
    PERFORM set_config('lock_timeout', lock_wait_ms::text, true);
    BEGIN
        FOREACH lock_key IN ARRAY lock_keys LOOP
            PERFORM pg_advisory_xact_lock(lock_key);
        END LOOP;
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION 'advisory lock % not granted within % ms', lock_key, lock_wait_ms
            USING ERRCODE = '{LOCK_BUSY_SQLSTATE}';
    END;
    PERFORM set_config('lock_timeout', lock_timeout_ms::text, true),
            set_config('statement_timeout', statement_timeout_ms::text, true);"""
"""PL/pgSQL: the transaction-scoped locks, in order, each waited for at most
``lock_wait_ms`` (lock_timeout covers advisory locks too), then the timeouts the
rest of the transaction runs under. set_config(..., true) is SET LOCAL: both end
with the transaction, as the locks do."""

_LOCK_DECLARATIONS = """
    lock_key bigint;"""

_LOCK_PARAMETERS = (
    ("lock_keys", "bigint[]"),
    ("lock_wait_ms", "bigint"),
    ("lock_timeout_ms", "bigint"),
    ("statement_timeout_ms", "bigint"),
)


def _constants(parameters: tuple[tuple[str, str], ...], values: tuple[str, ...]) -> str:
    return "".join(
        f"\n    {name} constant {kind} := {value};"
        for (name, kind), value in zip(parameters, values, strict=True)
    )


def _lock_values(
    keys: tuple[int, ...], *, wait_ms: int, lock_timeout_ms: int, statement_timeout_ms: int
) -> tuple[str, ...]:
    """The lock parameters as SQL literals; only validated integers are inlined."""
    array = f"ARRAY[{', '.join(str(int(k)) for k in keys)}]::bigint[]"
    return (array, str(int(wait_ms)), str(int(lock_timeout_ms)), str(int(statement_timeout_ms)))


def lock_and_limit_sql(
    keys: tuple[int, ...], *, wait_ms: int, lock_timeout_ms: int, statement_timeout_ms: int
) -> str:
    """One statement opening a transaction: the locks (bounded wait), then the timeouts.

    A ``DO`` block, so that the steps run in order: the wait for the locks is
    bounded by ``wait_ms``, not by the shorter ``lock_timeout`` meant for table
    locks. A lock not granted in time raises SQLSTATE ``LOCK_BUSY_SQLSTATE``.
    """
    values = _lock_values(
        keys,
        wait_ms=wait_ms,
        lock_timeout_ms=lock_timeout_ms,
        statement_timeout_ms=statement_timeout_ms,
    )
    return (
        f"DO $dbmigrate$\nDECLARE{_constants(_LOCK_PARAMETERS, values)}{_LOCK_DECLARATIONS}"
        f"\nBEGIN{_TAKE_LOCKS}\nEND\n$dbmigrate$"
    )


def limits_lock_sql(limits: Limits) -> str:
    """``lock_and_limit_sql`` for these limits."""
    return lock_and_limit_sql(
        limits.lock_keys,
        wait_ms=limits.lock_wait_ms,
        lock_timeout_ms=limits.lock_timeout_ms,
        statement_timeout_ms=limits.statement_timeout_ms,
    )


def session_lock_sql(keys: tuple[int, ...], *, wait_ms: int) -> str:
    """golang-migrate's locks as golang-migrate takes them: session locks, for a whole run.

    Sent in autocommit: the locks outlive the statement's transaction, the wait
    bound (SET LOCAL) does not. Raises ``LOCK_BUSY_SQLSTATE`` like the others.
    """
    locks = "".join(f"\n    PERFORM pg_advisory_lock({int(key)});" for key in keys)
    return (
        "DO $dbmigrate$\nBEGIN\n"
        f"    PERFORM set_config('lock_timeout', '{int(wait_ms)}', true);{locks}\n"
        "EXCEPTION WHEN lock_not_available THEN\n"
        f"    RAISE EXCEPTION 'advisory lock not granted within {int(wait_ms)} ms'\n"
        f"        USING ERRCODE = '{LOCK_BUSY_SQLSTATE}';\n"
        "END\n$dbmigrate$"
    )


def session_unlock_sql(keys: tuple[int, ...]) -> str:
    return "SELECT " + ", ".join(f"pg_advisory_unlock({int(key)})" for key in keys)


_GUARD_DECLARATIONS = (
    _LOCK_DECLARATIONS
    + """
    found_version bigint;
    found_dirty boolean;"""
)
_GUARD_STATEMENTS = (
    _TAKE_LOCKS
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
    *_LOCK_PARAMETERS,
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

    It takes the locks and sets the timeouts as ``lock_and_limit_sql`` does, notes
    when it got the locks, then reads the state; if it is not ``expected`` it
    raises SQLSTATE ``STALE_STATE_SQLSTATE``, before the file's first statement
    runs. PL/pgSQL reads with a new snapshot per statement, so the read sees what
    a runner that held the lock committed. ``function``: call ``GUARD_FUNCTION``
    (created by ``CREATE_GUARD_FUNCTION_SQL``) rather than send the same code as
    a ``DO`` block. Only validated integers are inlined.
    """
    values = (
        *_lock_values(
            limits.lock_keys,
            wait_ms=limits.lock_wait_ms,
            lock_timeout_ms=limits.lock_timeout_ms,
            statement_timeout_ms=limits.statement_timeout_ms,
        ),
        str(-1 if expected.version is None else int(expected.version)),
        "true" if expected.dirty else "false",
    )
    if function:
        return f"SELECT {GUARD_FUNCTION}({', '.join(values)})"
    return (
        f"DO $dbmigrate$\nDECLARE{_constants(_GUARD_PARAMETERS, values)}{_GUARD_DECLARATIONS}"
        f"\nBEGIN{_GUARD_STATEMENTS}\nEND\n$dbmigrate$"
    )


def as_version(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise StateError(f"unexpected version value {value!r} in schema_migrations")
    return int(value)
