"""The migration locks: golang-migrate's advisory keys, then this engine's own.

golang-migrate's postgres driver holds its key as a session lock for a run, and
runs ``CREATE INDEX CONCURRENTLY`` files while holding it. Such a build waits for
every transaction whose snapshot is older than its own, and a backend blocked in
``pg_advisory_lock`` keeps one: a runner that queued for golang-migrate's key
would deadlock with it, and PostgreSQL would abort one of the two. So
golang-migrate's keys are never waited for inside the database. They are tried
(``pg_try_advisory_*lock``), and the client sleeps between tries, holding no
snapshot. For the same reason, a psycopg run lets go of its session locks while
a no-transaction file's statements run (``SessionLocks.released``); the dirty
row it committed first makes a ``migrate`` started meanwhile refuse to run.

The engine's own key is only ever held by transactions that run no such
statement, so it is waited for in the database, bounded by ``lock_timeout``.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import NamedTuple, TypeVar

from dbmigrate.errors import LockBusyError, sqlstate_of
from dbmigrate.transport import Executor

T = TypeVar("T")

log = logging.getLogger("dbmigrate")

GOLANG_MIGRATE_LOCK_SALT = 1_486_364_155
"""golang-migrate's ``advisoryLockIDSalt`` (database/util.go)."""

IDENTITY_SQL = "SELECT current_database(), current_schema()"
"""What golang-migrate's postgres driver derives its lock key from, besides the table."""

HELD_SQLSTATE = "DMG03"
"""Raised by the transaction lock statement: a golang-migrate key is held by another session."""
BUSY_SQLSTATE = "DMG02"
"""Raised by the lock statements: this engine's own key was not granted within the wait."""

POLL_FIRST_SECONDS = 0.02
POLL_MAX_SECONDS = 0.5
"""Between two tries for golang-migrate's keys; over the Data API a try costs three calls."""


def golang_migrate_lock_key(database: str, schema: str, table: str) -> int:
    """An advisory lock key as golang-migrate's postgres driver derives it.

    ``database.GenerateAdvisoryLockId(db, schema, table)``: the CRC-32 (IEEE) of
    ``schema NUL table NUL db`` times the salt, in uint32 arithmetic.
    """
    checksum = zlib.crc32(f"{schema}\0{table}\0{database}".encode())
    return (checksum * GOLANG_MIGRATE_LOCK_SALT) % 2**32


def golang_migrate_lock_keys(database: str, schema: str, table: str) -> tuple[int, int]:
    """Both keys a golang-migrate run on this database, schema and table may hold.

    The ``migrate`` CLI names the database by its URL's path, leading slash
    included (``/app`` for ``postgres://host/app``: measured in pg_locks, v4.20.1);
    a URL without a path, and programs that pass golang-migrate a connection,
    use ``current_database()`` (``app``). Taking both excludes either.
    """
    with_slash = golang_migrate_lock_key(f"/{database}", schema, table)
    return with_slash, golang_migrate_lock_key(database, schema, table)


class Limits(NamedTuple):
    """The locks, how long to wait for them, and the per-transaction timeouts.

    Validated by the engine. ``golang_migrate_keys`` is empty and ``name`` blank
    until the engine has read which database and schema it is in.
    """

    lock_key: int
    lock_wait_ms: int
    lock_timeout_ms: int
    statement_timeout_ms: int
    applied_by: str
    golang_migrate_keys: tuple[int, ...] = ()
    name: str = ""
    """``database.schema.schema_migrations``, for messages."""


def busy_message(limits: Limits) -> str:
    return (
        f"another migration tool holds the migration lock of {limits.name or 'this database'} "
        f"(golang-migrate's `migrate`, or another run of this one): gave up after waiting "
        f"{limits.lock_wait_ms / 1000:g} s; let it finish (`version` shows where it is), then "
        "run this again"
    )


# -- in a transaction ---------------------------------------------------------------------

TAKE_LOCKS = f"""
    FOREACH lock_key IN ARRAY golang_migrate_keys LOOP
        IF NOT pg_try_advisory_xact_lock(lock_key) THEN
            RAISE EXCEPTION 'advisory lock % is held by another session', lock_key
                USING ERRCODE = '{HELD_SQLSTATE}';
        END IF;
    END LOOP;
    PERFORM set_config('lock_timeout', lock_wait_ms::text, true);
    BEGIN
        PERFORM pg_advisory_xact_lock(own_key);
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION 'advisory lock % not granted within % ms', own_key, lock_wait_ms
            USING ERRCODE = '{BUSY_SQLSTATE}';
    END;
    PERFORM set_config('lock_timeout', lock_timeout_ms::text, true),
            set_config('statement_timeout', statement_timeout_ms::text, true);"""
"""PL/pgSQL: golang-migrate's keys tried, the engine's own waited for (at most
``lock_wait_ms``: lock_timeout covers advisory locks too), then the timeouts the
rest of the transaction runs under. set_config(..., true) is SET LOCAL: they end
with the transaction, as the locks do. A session that holds a key already (a
psycopg run's session lock) is granted it again at once."""

LOCK_DECLARATIONS = """
    lock_key bigint;"""

LOCK_PARAMETERS = (
    ("golang_migrate_keys", "bigint[]"),
    ("own_key", "bigint"),
    ("lock_wait_ms", "bigint"),
    ("lock_timeout_ms", "bigint"),
    ("statement_timeout_ms", "bigint"),
)


def lock_values(limits: Limits) -> tuple[str, ...]:
    """``LOCK_PARAMETERS`` as SQL literals; only validated integers are inlined."""
    keys = ", ".join(str(int(k)) for k in limits.golang_migrate_keys)
    return (
        f"ARRAY[{keys}]::bigint[]",
        str(int(limits.lock_key)),
        str(int(limits.lock_wait_ms)),
        str(int(limits.lock_timeout_ms)),
        str(int(limits.statement_timeout_ms)),
    )


def constants(parameters: tuple[tuple[str, str], ...], values: tuple[str, ...]) -> str:
    """PL/pgSQL ``DECLARE`` lines binding each parameter to its literal."""
    return "".join(
        f"\n    {name} constant {kind} := {value};"
        for (name, kind), value in zip(parameters, values, strict=True)
    )


def transaction_lock_sql(limits: Limits) -> str:
    """One statement opening a transaction: the locks, then the timeouts.

    A ``DO`` block, so that the steps run in order. It raises ``HELD_SQLSTATE``
    when golang-migrate's key is taken (``in_locked_transaction`` tries again)
    and ``BUSY_SQLSTATE`` when the engine's own is not granted in time.
    """
    declarations = constants(LOCK_PARAMETERS, lock_values(limits)) + LOCK_DECLARATIONS
    return f"DO $dbmigrate$\nDECLARE{declarations}\nBEGIN{TAKE_LOCKS}\nEND\n$dbmigrate$"


def in_locked_transaction(
    transaction: Callable[[], AbstractContextManager[Executor]],
    limits: Limits,
    body: Callable[[Executor], T],
) -> T:
    """``body`` in a transaction opened by ``transaction_lock_sql``, retried while held.

    Each try that finds golang-migrate's key taken is rolled back whole; the
    client sleeps (no snapshot held) and tries again until ``lock_wait_ms``.
    """
    sql = transaction_lock_sql(limits)

    def attempt() -> T:
        with transaction() as tx:
            tx.execute(sql)
            return body(tx)

    return poll(attempt, limits, held=lambda exc: sqlstate_in_chain(exc) == HELD_SQLSTATE)


def poll(attempt: Callable[[], T], limits: Limits, held: Callable[[Exception], bool]) -> T:
    """``attempt()`` until it does not fail with ``held``; LockBusyError past the wait."""
    deadline = time.monotonic() + limits.lock_wait_ms / 1000
    pause = POLL_FIRST_SECONDS
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not held(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise LockBusyError(busy_message(limits)) from exc
        if pause == POLL_FIRST_SECONDS:
            log.info(
                "waiting for the migration lock of %s (another migration run holds it), up to %g s",
                limits.name or "this database",
                limits.lock_wait_ms / 1000,
            )
        time.sleep(pause)
        pause = min(pause * 2, POLL_MAX_SECONDS)


def sqlstate_in_chain(exc: BaseException | None) -> str | None:
    """The first SQLSTATE found on ``exc`` or its causes (engine errors wrap the driver's)."""
    while exc is not None:
        state = sqlstate_of(exc)
        if state:
            return state
        exc = exc.__cause__
    return None


# -- for a whole run, on a session that persists -------------------------------------------


class _KeyHeldError(Exception):
    """Some golang-migrate key was taken: the ones this try got are released again."""


class SessionLocks:
    """golang-migrate's keys held as session locks for a whole run, as ``migrate`` holds its own.

    Only on a transport whose calls share one session (psycopg). Tried, never
    waited for in the database (see the module's docstring).
    """

    def __init__(self, executor: Executor, limits: Limits) -> None:
        self._executor = executor
        self._limits = limits
        self._keys = tuple(int(k) for k in limits.golang_migrate_keys)
        self.held = False

    def acquire(self) -> None:
        """All the keys, or none: LockBusyError once ``lock_wait_ms`` has passed."""
        poll(self._try, self._limits, held=lambda exc: isinstance(exc, _KeyHeldError))
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._executor.execute(_unlock_sql(self._keys))

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let go while the block runs (a no-transaction file's statements), then take again.

        Not taken again when the block fails: the run ends there, and a wait for the
        lock would only delay (or hide) the statement's error.
        """
        self.release()
        yield
        self.acquire()

    def _try(self) -> None:
        tries = ", ".join(f"pg_try_advisory_lock({key})" for key in self._keys)
        rows = self._executor.execute(f"SELECT {tries}")
        granted = [key for key, got in zip(self._keys, rows[0], strict=True) if got]
        if len(granted) < len(self._keys):
            if granted:
                self._executor.execute(_unlock_sql(tuple(granted)))
            raise _KeyHeldError


def _unlock_sql(keys: tuple[int, ...]) -> str:
    return "SELECT " + ", ".join(f"pg_advisory_unlock({key})" for key in keys)
