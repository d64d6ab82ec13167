"""Apply a bundle of migrations to a database through a ``Transport``.

State is kept exactly as golang-migrate keeps it (``dbmigrate.state``), so
either tool can continue where the other stopped. What this engine adds, and why:

* Each transactional file runs in ONE transaction together with its version
  update: a failing statement leaves nothing of the file behind and the
  database is never dirty. golang-migrate runs files outside a transaction.
* That transaction first takes ``pg_advisory_xact_lock`` and then checks the
  version, so two runners started at once (a deploy retried, two laptops)
  never apply the same migration: the second waits, sees the new version and
  moves on. A transaction-scoped lock is used because the RDS Data API pools
  sessions: a session lock would not survive from one call to the next.
* The locks are golang-migrate's keys for this database, schema and
  ``schema_migrations``, then this engine's constant one (``dbmigrate.locks``).
  Over a transport that keeps its session (psycopg) the engine also holds
  golang-migrate's keys as session locks for the run, as ``migrate`` does; so
  a ``migrate up`` typed during a run waits for it, and the reverse. Every wait
  is bounded (``lock_wait_ms``); past it, ``LockBusyError``.
* ``schema_migrations_history`` records each applied file's sha256; a file
  edited after it was applied is refused before anything runs.
* Files declared ``-- migrate:no-transaction`` (CREATE INDEX CONCURRENTLY...)
  follow golang-migrate's dirty protocol. A dirty database refuses every
  command but ``force``.

How files are run (several per request on psycopg, a call per statement on
the Data API) is ``dbmigrate.steps``; which files run is ``dbmigrate.planning``. The
engine never imports pglast: the Lambda loads a precompiled bundle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from dbmigrate import resume
from dbmigrate.bundle import Bundle
from dbmigrate.errors import InvalidRequestError, LockBusyError
from dbmigrate.hints import DEFAULT_FORCE_HINT, DirtyHints
from dbmigrate.lock_waits import DEFAULT_LOCK_WAIT_MS
from dbmigrate.locks import (
    BUSY_SQLSTATE,
    IDENTITY_SQL,
    Limits,
    SessionLocks,
    busy_message,
    golang_migrate_lock_keys,
    sqlstate_in_chain,
)
from dbmigrate.no_transaction import StopWhen
from dbmigrate.planning import (
    AppliedStep,
    Direction,
    Plan,
    Planner,
    RunResult,
    Step,
    show,
    versions_text,
)
from dbmigrate.resume import Running
from dbmigrate.state import (
    CREATE_HISTORY_TABLE,
    CREATE_VERSION_TABLE,
    VERSION_TABLE,
    HistoryRow,
    VersionState,
    read_state,
    write_state,
)
from dbmigrate.steps import Stepper
from dbmigrate.transport import Executor, SessionTransport, Transport

__all__ = [
    "ADVISORY_LOCK_KEY",
    "AppliedStep",
    "Engine",
    "EngineConfig",
    "Plan",
    "RunResult",
    "Step",
    "VersionState",
]

log = logging.getLogger("dbmigrate")

ADVISORY_LOCK_KEY = 7_240_410_632_112_019_883
"""An arbitrary constant bigint shared by every runner of this engine, whatever the database."""

DEFAULT_LOCK_TIMEOUT_MS = 5_000
"""A migration waiting longer than this for a table lock gives up instead of queueing
every application query behind its ACCESS EXCLUSIVE request."""

DEFAULT_STATEMENT_TIMEOUT_MS = 40_000
"""Below the Data API's 45 s per-call cut-off: a slow statement is cancelled by PostgreSQL
itself, the error comes back over the call and the transaction rolls back cleanly, instead
of the client losing the call while the statement may still be running."""


class EngineConfig(NamedTuple):
    """Tunables; the defaults suit Aurora Serverless v2 behind the Data API."""

    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    lock_wait_ms: int = DEFAULT_LOCK_WAIT_MS
    lock_key: int = ADVISORY_LOCK_KEY
    single_call: bool = True
    """Without batches (the Data API), send each transactional file as one call."""
    applied_by: str = "dbmigrate"
    force_hint: str = DEFAULT_FORCE_HINT
    """How the operator runs ``force``; ``{version}`` is replaced. The Lambda sets its own."""

    def limits(self) -> Limits:
        """Validated: the lock key and timeouts are inlined into SQL text."""
        for value in (self.lock_timeout_ms, self.statement_timeout_ms):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidRequestError("timeouts must be non-negative integers (milliseconds)")
        wait = self.lock_wait_ms
        if not isinstance(wait, int) or isinstance(wait, bool) or wait < 1:
            raise InvalidRequestError("lock_wait_ms must be a positive integer (milliseconds)")
        if not isinstance(self.lock_key, int) or isinstance(self.lock_key, bool):
            raise InvalidRequestError("lock_key must be an integer")
        return Limits(
            lock_key=self.lock_key,
            lock_wait_ms=wait,
            lock_timeout_ms=self.lock_timeout_ms,
            statement_timeout_ms=self.statement_timeout_ms,
            applied_by=self.applied_by,
        )


class Engine:
    """Runs golang-migrate-style commands (up, down, goto, version, force) over a transport."""

    def __init__(
        self,
        transport: Transport,
        bundle: Bundle,
        *,
        config: EngineConfig | None = None,
        on_step: Callable[[AppliedStep], None] | None = None,
    ) -> None:
        config = config or EngineConfig()
        self._transport = transport
        self._bundle = bundle
        self._planner = Planner(bundle)
        self._hints = DirtyHints(self._planner, config.force_hint)
        self._stepper = Stepper(
            transport, self._planner, self._hints, config.limits(), single_call=config.single_call
        )
        self._on_step = on_step
        self._applied_by = config.applied_by
        self._identified = False
        self._running: Running | None = None

    # -- read-only commands -------------------------------------------------

    def version(self) -> VersionState:
        """The recorded state; an absent ``schema_migrations`` table means no version."""
        if not _table_exists(self._transport, "schema_migrations"):
            return VersionState(None, dirty=False)
        return read_state(self._transport)

    def plan(self, n: int | None = None) -> Plan:
        """What ``up(n)`` would apply now; refuses a dirty or edited database like ``up``
        (a file left running, which ``up`` continues, is listed first)."""
        state = self.version()
        running = self._continuable(self._transport, state) if state.dirty else None
        if running is None:
            self._stepper.require_clean(state)
        if _table_exists(self._transport, "schema_migrations_history"):
            self._stepper.verify_checksums(self._transport, state.version)
        ahead = self._planner.ahead_message(state.version)
        if ahead:
            return Plan(state.version, state.version, (), True, ahead)
        target = self._planner.up_target(state.version, n)
        steps = self._planner.steps(state.version, target, "up")
        if running is not None:
            steps = (self._stepper.running_step(running), *steps)
        message = f"{len(steps)} migration(s) pending" if steps else "no change: up to date"
        if running is not None:
            message += f" ({steps[0].file} continues: {self._stepper.running_text(running)})"
        return Plan(state.version, target, steps, False, message)

    def dirty_message(self, version: int | None) -> str:
        """The refusal a dirty database at ``version`` gets, with the command that clears it;
        for a file this engine left running, what ``up`` will do instead."""
        running = self._continuable(self._transport, VersionState(version, dirty=True))
        if running is None:
            return self._hints.text(version)
        step = self._stepper.running_step(running)
        return (
            f"database is dirty at version {show(version)} while {step.file} runs: "
            f"{self._stepper.running_text(running)}; `up` waits for it, checks what it left and "
            "goes on"
        )

    # -- commands that change the database -----------------------------------

    def up(self, n: int | None = None, *, stop_when: StopWhen | None = None) -> RunResult:
        """Apply all pending migrations, or the next ``n``.

        A database already past the newest bundled version is left alone: the
        result says so instead of failing, so rolling back a deployment to an
        older bundle never tries to undo a forward-only schema change.

        ``stop_when`` is asked after each file: once it says so, the run stops
        there (``RunResult.complete`` False), and a statement left running raises
        `StatementRunningError`; the next ``up`` continues from the recorded state.
        """
        if n is not None and n < 1:
            raise InvalidRequestError(f"up N needs N >= 1, got {n}")
        return self._up(n, stop_when, dirty_ahead_ok=False)

    def migrate_to_latest(self, *, stop_when: StopWhen | None = None) -> RunResult:
        """``up()`` for the deployment Lambda: newest bundled version, or leave a newer database.

        Newer and dirty too: a rollback Update runs while the newer deploy's file may
        still be running (or failed); refusing it would fail the rollback as well.
        """
        return self._up(None, stop_when, dirty_ahead_ok=True)

    def _up(self, n: int | None, stop_when: StopWhen | None, *, dirty_ahead_ok: bool) -> RunResult:
        with self._exclusive():
            start = self._prepare(continuing=True, dirty_ahead_ok=dirty_ahead_ok)
            ahead = self._planner.ahead_message(start.version)
            if ahead:
                if start.dirty:
                    ahead += f" (dirty at {show(start.version)}: left for the newer deploy)"
                log.info(ahead)
                return RunResult(start.version, start.version, (), ahead=True, message=ahead)
            target = self._planner.up_target(start.version, n)
            return self._run(start, target, "up", stop_when)

    def down(self, n: int) -> RunResult:
        """Revert the last ``n`` applied migrations; all of them must have down files."""
        if n < 1:
            raise InvalidRequestError(f"down N needs N >= 1, got {n}")
        with self._exclusive():
            start = self._prepare()
            self._planner.require_known(start.version)
            applied = [
                v for v in self._bundle.versions if start.version is not None and v <= start.version
            ]
            if n > len(applied):
                raise InvalidRequestError(
                    f"cannot go down {n}: only {len(applied)} migration(s) applied (database at "
                    f"version {show(start.version)})"
                )
            target = applied[-n - 1] if n < len(applied) else None
            return self._run(start, target, "down")

    def down_all(self) -> RunResult:
        """Revert every applied migration, leaving an empty ``schema_migrations``."""
        with self._exclusive():
            start = self._prepare()
            self._planner.require_known(start.version)
            return self._run(start, None, "down")

    def goto(self, version: int) -> RunResult:
        """Migrate up or down to exactly ``version``, which must be a bundled version."""
        if self._bundle.get(version) is None:
            raise InvalidRequestError(
                f"no migration with version {version} in the bundle; "
                f"known versions: {versions_text(self._bundle.versions)}"
            )
        with self._exclusive():
            start = self._prepare()
            self._planner.require_known(start.version)
            if start.version is not None and version < start.version:
                return self._run(start, version, "down")
            return self._run(start, version, "up")

    def force(self, version: int | None) -> VersionState:
        """Record ``version`` as current and clean without running anything, as golang-migrate does.

        None (or -1, golang-migrate's spelling) records "no version".
        """
        if version is not None and version < -1:
            raise InvalidRequestError(f"force needs a version >= -1, got {version}")
        if version == -1:
            version = None
        if version is not None and self._bundle.get(version) is None:
            log.warning("forcing version %s, which no bundled migration has", version)
        with self._exclusive():
            return self._force(version)

    def _force(self, version: int | None) -> VersionState:
        migration = self._bundle.get(version) if version is not None else None
        record = HistoryRow(
            version=-1 if version is None else version,
            name=migration.name if migration else "",
            direction="force",
            checksum=None,
            duration_ms=0,
            applied_by=self._applied_by,
        )

        def write(tx: Executor) -> None:
            _create_tables(tx)
            write_state(tx, version, dirty=False, record=record)
            resume.clear(tx)  # whatever was left running is now the operator's to judge

        self._stepper.locked(write)
        self._stepper.wrote(VersionState(version, dirty=False))
        log.info("forced version %s (clean)", show(version))
        return VersionState(version, dirty=False)

    # -- the lock ------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The command's run under the migration locks (``dbmigrate.locks``)."""
        with self._busy_said():
            if not self._identified:
                self._identify()
            with self._session_locks():
                yield

    @contextmanager
    def _busy_said(self) -> Iterator[None]:
        """This engine's own key not granted in time (raised in SQL): say who holds it."""
        try:
            yield
        except LockBusyError:
            raise
        except Exception as exc:
            if sqlstate_in_chain(exc) == BUSY_SQLSTATE:
                raise LockBusyError(busy_message(self._stepper.limits)) from exc
            raise

    @contextmanager
    def _session_locks(self) -> Iterator[None]:
        """On a transport that keeps its session, golang-migrate's keys for the whole run."""
        transport = self._transport
        if not (isinstance(transport, SessionTransport) and transport.keeps_session):
            yield
            return
        locks = SessionLocks(transport, self._stepper.limits)
        self._stepper.session_locks = locks
        try:
            locks.acquire()
            yield
        finally:
            self._stepper.session_locks = None
            try:
                locks.release()
            except Exception as exc:  # the session is gone, and its locks with it
                log.warning("releasing golang-migrate's locks failed: %s", exc)

    def _identify(self) -> None:
        """Read the database and schema: golang-migrate's keys derive from them."""
        rows = self._transport.execute(IDENTITY_SQL)
        database, schema = (str(v) if v is not None else "" for v in rows[0])
        if not schema:
            raise InvalidRequestError(
                f"database {database}: no schema on the search_path to keep {VERSION_TABLE} in; "
                "set search_path (golang-migrate refuses this too)"
            )
        keys = golang_migrate_lock_keys(database, schema, VERSION_TABLE)
        name = f"{database}.{schema}.{VERSION_TABLE}"
        self._stepper.use_limits(self._stepper.limits._replace(golang_migrate_keys=keys, name=name))
        self._identified = True

    # -- the step loop --------------------------------------------------------

    def _prepare(self, *, continuing: bool = False, dirty_ahead_ok: bool = False) -> VersionState:
        """The tables, then the state read under the locks: a ``migrate`` mid-file holds them
        (its dirty row then is its own, not a failure), so this never sees that row.

        ``continuing``: a dirty version whose no-transaction file this engine left
        running (``dbmigrate.resume``) is continued instead of refused.
        """
        self._running = None

        def prepare(tx: Executor) -> VersionState:
            _create_tables(tx)
            state = read_state(tx)
            if state.dirty and continuing:
                if dirty_ahead_ok and self._planner.ahead_message(state.version):
                    return state
                self._running = self._continuable(tx, state)
            if self._running is None:
                self._stepper.require_clean(state)
            self._stepper.verify_checksums(tx, state.version)
            return state

        state = self._stepper.known = self._stepper.locked(prepare)
        return state

    def _continuable(self, tx: Executor, state: VersionState) -> Running | None:
        """The row of the file left running at the dirty version, if it is this bundle's."""
        migration = self._bundle.get(state.version) if state.version is not None else None
        if migration is None or migration.up.transactional:
            return None
        running = resume.read(tx, migration.version)
        if running is None or running.checksum != migration.up.checksum:
            return None
        return running

    def _run(
        self,
        start: VersionState,
        target: int | None,
        direction: Direction,
        stop_when: StopWhen | None = None,
    ) -> RunResult:
        steps = self._planner.steps(start.version, target, direction)
        missing = [s for s in steps if s.file == ""]
        if missing:
            first = self._bundle.get(missing[0].version)
            label = first.label if first else str(missing[0].version)
            raise InvalidRequestError(
                f"migration {missing[0].version} ({label}) has no down file: it is forward-only; "
                "write a new up migration that reverses it instead"
            )
        applied: list[AppliedStep] = []
        if self._running is not None:
            self._record(applied, [self._stepper.continue_file(self._running, stop_when)])
        while done := self._stepper.advance(target, direction):
            self._record(applied, done)
            if stop_when is not None and stop_when():
                break  # after at least one file: every call makes progress
        current = read_state(self._transport).version
        complete = self._planner.next_step(current, target, direction) is None
        if not applied:
            message = f"no change: database at version {show(current)}"
        else:
            message = f"applied {len(applied)} migration(s) {direction}; now at {show(current)}"
        if not complete:
            message += f"; stopped for time, {self._planner.left(current, target)} left"
        log.info(message)
        return RunResult(start.version, current, tuple(applied), message=message, complete=complete)

    def _record(self, applied: list[AppliedStep], done: list[AppliedStep]) -> None:
        for step in done:
            applied.append(step)
            if self._on_step is not None:
                self._on_step(step)


def _create_tables(tx: Executor) -> None:
    tx.execute(CREATE_VERSION_TABLE)
    tx.execute(CREATE_HISTORY_TABLE)


def _table_exists(executor: Executor, table: str) -> bool:
    rows = executor.execute("SELECT to_regclass(:table) IS NOT NULL", {"table": table})
    return bool(rows and rows[0][0])
