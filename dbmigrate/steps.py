"""Running one migration file, atomically with its version update, under the advisory lock.

Three ways, chosen per file:

* **Batched** (a ``BatchTransport``: psycopg, see ``dbmigrate.batch``):
  consecutive transactional files in one request, each in its own transaction
  opened by a guard that takes the lock and checks the recorded state. When the
  guard finds the state moved (another runner), that file and those after it
  did not run, and the next is taken the locked way.
* **Locked** (the Data API, or after a guard miss): BEGIN, lock, read the state
  under the lock, then each statement and the write, one call each.
* **No transaction** (``-- migrate:no-transaction`` files): golang-migrate's
  dirty protocol: write (version, dirty), run the statements in autocommit,
  write (version, clean).

A transactional file that fails leaves nothing behind. When it was sent in a
batch, it is re-run statement by statement in a transaction that is always
rolled back, only to name the failing statement.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import NamedTuple, TypeVar

from dbmigrate import resume
from dbmigrate.batch import Batcher, log_applying
from dbmigrate.errors import (
    ChecksumMismatchError,
    DirtyDatabaseError,
    LockBusyError,
    MigrationError,
    StateError,
    StatementError,
    db_error_text,
    excerpt,
    sqlstate_of,
)
from dbmigrate.hints import DirtyHints
from dbmigrate.locks import (
    BUSY_SQLSTATE,
    HELD_SQLSTATE,
    Limits,
    SessionLocks,
    in_locked_transaction,
    sqlstate_in_chain,
)
from dbmigrate.model import Script
from dbmigrate.no_transaction import NoTransactionFile, StopWhen
from dbmigrate.planning import AppliedStep, Direction, Planner, Step, show
from dbmigrate.resume import Running
from dbmigrate.single_call import NOT_IMPLEMENTED_SQLSTATE, file_sql, fits, located_error
from dbmigrate.state import (
    STALE_STATE_SQLSTATE,
    HistoryRow,
    VersionState,
    as_version,
    read_state,
    write_state,
)
from dbmigrate.transport import BatchTransport, Executor, OutcomeUnknownError, Transport

log = logging.getLogger("dbmigrate")

T = TypeVar("T")


class _RollBackError(Exception):
    """Raised at the end of the diagnostic re-run so that its transaction never commits."""


class Stepper:
    """Takes one step at a time toward a target; remembers what it has verified and written."""

    def __init__(
        self,
        transport: Transport,
        planner: Planner,
        hints: DirtyHints,
        limits: Limits,
        *,
        single_call: bool = True,
    ) -> None:
        self._transport = transport
        # Checked once: isinstance against a runtime-checkable Protocol is slow per file.
        self._batcher = (
            Batcher(transport, transport, planner, limits, self.history_row)
            if isinstance(transport, BatchTransport)
            else None
        )
        self._planner = planner
        self._hints = hints
        self._limits = limits
        # Without batches (the Data API), a transactional file in one call (dbmigrate.single_call).
        self._single_call = single_call and self._batcher is None
        self._per_statement: set[tuple[int, str]] = set()
        # Checksums of applied versions up to here match the bundle: checked by this runner
        # or written by it. A locked read finding the version this runner left sends no
        # checksum query; one finding a version another runner applied since checks only
        # those versions, not the whole history again.
        self.verified_through = -1
        # The state this runner last read or wrote: what the next batch expects to
        # find under the lock. None: unknown, take the locked way.
        self.known: VersionState | None = None
        # A batch's failing file, located, to raise once the files it committed are reported.
        self._failed: StatementError | None = None
        # golang-migrate's keys held for the whole run (psycopg): let go around the statements
        # of a no-transaction file (see dbmigrate.locks). Set by the engine.
        self.session_locks: SessionLocks | None = None

    @property
    def limits(self) -> Limits:
        """The locks and timeouts every transaction of this run opens with."""
        return self._limits

    def use_limits(self, limits: Limits) -> None:
        """From now on, lock as ``limits`` say (the engine adds golang-migrate's keys)."""
        self._limits = limits
        if self._batcher is not None:
            self._batcher.limits = limits

    def locked(self, body: Callable[[Executor], T]) -> T:
        """``body`` in a transaction under the migration locks (``dbmigrate.locks``)."""
        return in_locked_transaction(self._transport.transaction, self._limits, body)

    def advance(self, target: int | None, direction: Direction) -> list[AppliedStep]:
        """Take the next step(s) toward ``target``; [] when there."""
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed from failed.__cause__
        if applied := self._batched(target, direction):
            return applied
        if single := self._in_one_call(target, direction):
            return [single]
        done = self._locked(target, direction)
        return [] if done is None else [done]

    def require_clean(self, state: VersionState) -> None:
        if state.dirty:
            raise DirtyDatabaseError(self._hints.text(state.version))

    def verify_checksums(self, executor: Executor, current: int | None) -> None:
        """Refuse to go on if an applied file changed since it was applied.

        Versions applied before the history existed (by golang-migrate) have no
        row and are accepted as they are.
        """
        if current is None or self.verified_through >= current:
            return
        rows = executor.execute(
            "SELECT DISTINCT ON (version) version, checksum FROM schema_migrations_history "
            "WHERE direction = 'up' AND version > :verified AND version <= :current "
            "ORDER BY version, id DESC",
            {"verified": self.verified_through, "current": current},
        )
        edited = []
        for version, checksum in rows:
            migration = self._planner.bundle.get(as_version(version))
            if migration is not None and checksum is not None and checksum != migration.up.checksum:
                edited.append(migration.up.path)
        if edited:
            more = f" (and {', '.join(edited[1:])})" if len(edited) > 1 else ""
            raise ChecksumMismatchError(
                f"{edited[0]}{more} was edited after it was applied: restore the applied "
                "content and create a new migration instead"
            )
        self.verified_through = current

    def history_row(self, step: Step, checksum: str | None, duration_ms: int | None) -> HistoryRow:
        return HistoryRow(
            version=step.version,
            name=step.name,
            direction=step.direction,
            checksum=checksum,
            duration_ms=duration_ms,
            applied_by=self._limits.applied_by,
        )

    def wrote(self, state: VersionState, step: Step | None = None) -> None:
        """This runner recorded ``state``, by running ``step`` or by forcing it.

        Up: the history now holds this very file's checksum, so the next locked
        read finding it needs no checksum query. Down or force: versions above
        the new one are no longer applied; if another runner re-applies them,
        they are checked again.
        """
        self.known = state
        after = -1 if state.version is None else state.version
        if step is not None and step.direction == "up":
            self.verified_through = max(self.verified_through, after)
        else:
            self.verified_through = min(self.verified_through, after)

    # -- several files in one request (see dbmigrate.batch) --------------------------

    def _batched(self, target: int | None, direction: Direction) -> list[AppliedStep]:
        """The next files in one request, when the transport and the files allow; [] if not taken.

        When a file fails, those before it in the request have committed and are
        returned; its located error is raised by the next call. A batch whose
        first file fails raises at once.
        """
        known, batcher = self.known, self._batcher
        if (
            batcher is None
            or known is None
            or known.dirty
            or (known.version is not None and self.verified_through < known.version)
        ):
            return []
        files = batcher.next_files(known.version, target, direction)
        if not files:
            return []  # the locked way confirms, under the lock, that there is nothing to do
        log_applying(files)
        outcome = batcher.send(files, known)
        applied = [self._committed(step, ms) for step, ms in outcome.committed]
        failure = outcome.failure
        if failure is None:
            return applied
        sqlstate = sqlstate_of(failure)
        if sqlstate == STALE_STATE_SQLSTATE:
            log.info("the recorded state moved (another runner): re-reading it under the lock")
            self.known = None
            return applied
        if sqlstate in (HELD_SQLSTATE, BUSY_SQLSTATE):
            self.known = None  # the locked way waits for the lock, bounded
            return applied
        step, script = files[len(applied)]
        before = files[len(applied) - 1][0].version_after if applied else known.version
        located = self._locate_failure(failure, step, script, before)
        if not applied:
            raise located from located.__cause__
        self._failed = located  # raised by the next call, once these are reported
        return applied

    def _committed(self, step: Step, duration_ms: int) -> AppliedStep:
        self.wrote(VersionState(step.version_after, dirty=False), step)
        return AppliedStep(step.version, step.name, step.direction, step.file, duration_ms)

    def _locate_failure(
        self, cause: Exception, step: Step, script: Script, before: int | None
    ) -> StatementError:
        """The error a file sent in one request gets: which statement failed, and why.

        Its transaction is already rolled back. The file is run again a statement
        at a time, under the lock and timeouts of a step, and that transaction is
        rolled back whatever happens: nothing is applied and the state and history
        tables are not written. If the recorded state moved meanwhile, or the re-run
        does not fail (a failure at commit, or one that depends on timing), the
        original error is reported for the file as a whole.
        """

        def rerun(tx: Executor) -> None:
            if read_state(tx) == VersionState(before, dirty=False):
                self._execute_statements(tx, script, before)
            raise _RollBackError

        try:
            self.locked(rerun)
        except StatementError as located:
            return located
        except _RollBackError:
            pass
        except Exception as exc:  # the connection itself failed: report the original error
            log.warning("re-running %s to find its failing statement failed: %s", step.file, exc)
        error = StatementError(
            f"{script.path}: failed: {db_error_text(cause)}; nothing from this file was "
            f"applied, the database is still at version {show(before)}"
        )
        error.__cause__ = cause
        return error

    # -- a file in one call (see dbmigrate.single_call) ------------------------------

    def _in_one_call(self, target: int | None, direction: Direction) -> AppliedStep | None:
        """The next file as one call, when the transport and the file allow; None if not taken.

        The state it expects is the one this runner last saw: if another runner moved
        it, or holds golang-migrate's lock, the block runs nothing and the locked way
        takes over (it waits, reads the state under the lock and goes on from there).
        """
        known = self.known
        found = self._one_call_file(known, target, direction)
        if found is None or known is None:
            return None
        step, script, sql = found
        log.info("applying %s (%s, in one call)", step.file, direction)
        started = time.monotonic()
        try:
            self._transport.execute(sql)
        except OutcomeUnknownError:
            self._after_cut(step, known)
            return None
        except Exception as exc:
            self._one_call_failed(exc, step, script, known)
            return None
        return self._committed(step, _elapsed_ms(started))

    def _one_call_failed(
        self, exc: Exception, step: Step, script: Script, known: VersionState
    ) -> None:
        """Raise the file's located error, unless the block only found the state moved or
        golang-migrate's lock taken (the locked way goes on from here), or PL/pgSQL cannot
        run one of its statements (nothing stayed: the file goes a statement per call)."""
        code = sqlstate_in_chain(exc)
        if code == BUSY_SQLSTATE:
            raise exc
        if code == NOT_IMPLEMENTED_SQLSTATE:
            log.info("%s goes a statement per call: %s", step.file, db_error_text(exc))
            self._per_statement.add((step.version, step.direction))
            return
        if code not in (STALE_STATE_SQLSTATE, HELD_SQLSTATE):
            raise located_error(exc, script, known.version) from exc
        self.known = None

    def _one_call_file(
        self, known: VersionState | None, target: int | None, direction: Direction
    ) -> tuple[Step, Script, str] | None:
        """The next file and its block, if it can go in one call from ``known``."""
        if not self._single_call or not fits(self._limits) or known is None or known.dirty:
            return None
        if known.version is not None and self.verified_through < known.version:
            return None
        step = self._planner.next_step(known.version, target, direction)
        if step is None or (step.version, step.direction) in self._per_statement:
            return None
        script = self._planner.script(step)
        if not script.transactional:
            return None
        record = self.history_row(step, script.checksum, None)  # duration: the server's
        sql = file_sql(self._limits, script, step, known, record)
        if sql is None:
            log.info("%s goes a statement per call: too long for one call", step.file)
            self._per_statement.add((step.version, step.direction))
            return None
        return step, script, sql

    def _after_cut(self, step: Step, known: VersionState) -> None:
        """The call was cut at the service's limit: the state, read under the lock, says
        whether the file is now applied; if nothing moved, it goes again a statement per call.

        A file found applied is not claimed (another runner may have applied it), and its
        checksum is not taken as verified: the locked way reads the state and checks it.
        """
        state = self.locked(read_state)
        if state == known:
            log.warning(
                "%s: its call was cut at the Data API's time limit and rolled back; sending it "
                "again a statement per call",
                step.file,
            )
            self._per_statement.add((step.version, step.direction))
        else:
            log.warning(
                "%s: its call was cut at the Data API's time limit; the database is now at %s "
                "(dirty=%s), going on from there",
                step.file,
                show(state.version),
                state.dirty,
            )
            self.known = None

    # -- under the lock, one statement per call ------------------------------------

    def _locked(self, target: int | None, direction: Direction) -> AppliedStep | None:
        """Lock, read the state under it, and run the next file there, or return None.

        The loop never turns around: if another runner already went past the
        target, this one stops.
        """
        committing: list[tuple[VersionState, Step]] = []

        def under_lock(tx: Executor) -> _Found | None:
            # Its own statement, after the lock: a statement's snapshot predates its
            # lock wait, so reading in the lock statement could see a stale version.
            state = self.known = read_state(tx)
            self.require_clean(state)
            self.verify_checksums(tx, state.version)
            step = self._planner.next_step(state.version, target, direction)
            if step is None:
                return None
            script = self._planner.script(step)
            if not script.transactional:
                write_state(tx, step.version_after, dirty=True)
                dirty = resume.dirty_key(step.version_after)
                resume.start(tx, dirty, step.direction, script.checksum, self._limits.applied_by)
                return _Found(state, step, script, None)
            log.info("applying %s (%s)", step.file, direction)
            started = time.monotonic()
            self._execute_statements(tx, script, state.version)
            duration = _elapsed_ms(started)
            record = self.history_row(step, script.checksum, duration)
            write_state(tx, step.version_after, dirty=False, record=record)
            committing.append((state, step))
            return _Found(state, step, script, duration)

        try:
            found = self.locked(under_lock)
        except MigrationError:
            raise
        except Exception as exc:
            if not committing:
                raise
            state, step = committing[0]
            raise StatementError(
                f"{step.file}: the transaction failed at commit: {db_error_text(exc)}; nothing "
                f"from this file was applied, the database is still at version "
                f"{show(state.version)}"
            ) from exc
        if found is None:
            return None
        if found.duration is not None:
            self.wrote(VersionState(found.step.version_after, dirty=False), found.step)
            step = found.step
            return AppliedStep(step.version, step.name, direction, step.file, found.duration)
        self.known = VersionState(found.step.version_after, dirty=True)
        return self._non_transactional(found.step, found.script)

    def _non_transactional(self, step: Step, script: Script) -> AppliedStep:
        """golang-migrate's protocol: the dirty row is committed; now run, then mark clean."""
        log.info(
            "applying %s (%s, no transaction, marked dirty while it runs)",
            step.file,
            step.direction,
        )
        return self._finish_no_transaction(step, script, lambda file: file.send_from(0))

    def running_step(self, running: Running) -> Step:
        """The up step of the file ``running`` records (a bundled version: the engine checks)."""
        step = self._planner.next_step(
            self._planner.version_before(running.version), running.version, "up"
        )
        if step is None:
            raise StateError(f"version {running.version} is not in the bundle")
        return step

    def running_text(self, running: Running) -> str:
        """Which statement the file left running, and whether the server still runs it."""
        step = self.running_step(running)
        file = NoTransactionFile(
            self._transport, self._planner, self._hints, step, self._planner.script(step)
        )
        return file.status_text(running)

    def continue_file(self, running: Running, stop_when: StopWhen | None) -> AppliedStep:
        """The no-transaction file a previous run left running (``dbmigrate.resume``): wait
        for its statement, then send the rest and mark it clean."""
        step = self.running_step(running)
        script = self._planner.script(step)
        log.info("continuing %s (no transaction, dirty while it runs)", step.file)

        def rest(file: NoTransactionFile) -> None:
            file.wait(running, stop_when)
            file.send_from(running.index + 1)

        return self._finish_no_transaction(step, script, rest)

    def _finish_no_transaction(
        self, step: Step, script: Script, send: Callable[[NoTransactionFile], None]
    ) -> AppliedStep:
        file = NoTransactionFile(self._transport, self._planner, self._hints, step, script)
        started = time.monotonic()
        session = self.session_locks
        try:
            with session.released() if session is not None else nullcontext():
                send(file)
            duration = _elapsed_ms(started)
            record = self.history_row(step, script.checksum, duration)
            self.locked(lambda tx: self._mark_clean(tx, step, record))
        except LockBusyError as exc:
            raise DirtyDatabaseError(
                f"{step.file} ran, but the migration lock could not be taken again to record it "
                f"clean ({exc}); {self._hints.text(step.version_after)}"
            ) from exc
        self.wrote(VersionState(step.version_after, dirty=False), step)
        return AppliedStep(step.version, step.name, step.direction, step.file, duration)

    def _mark_clean(self, tx: Executor, step: Step, record: HistoryRow) -> None:
        state = read_state(tx)
        if state == VersionState(step.version_after, dirty=False):
            # Another run continuing this file saw it end first and recorded it.
            log.info("%s: recorded clean meanwhile by another run", step.file)
            return
        if state != VersionState(step.version_after, dirty=True):
            self.known = None
            raise StateError(
                f"{step.file} ran, but meanwhile the recorded state changed to "
                f"{show(state.version)} (dirty={state.dirty}); check the schema and "
                "use force to record the right version"
            )
        write_state(tx, step.version_after, dirty=False, record=record)
        tx.execute(resume.CLEAR_RUNNING)

    def _execute_statements(self, executor: Executor, script: Script, before: int | None) -> None:
        """A transactional file's statements in ``executor``'s transaction."""
        for statement in script.statements:
            try:
                executor.execute(statement.sql)
            except Exception as exc:
                raise StatementError(
                    f"{script.path} line {statement.line}: statement `{excerpt(statement.sql)}` "
                    f"failed: {db_error_text(exc)}; nothing from this file was applied, the "
                    f"database is still at version {show(before)}"
                ) from exc


class _Found(NamedTuple):
    """What a locked step found: the state, the next step and its script, and the
    file's duration when it was applied there (None: a no-transaction file, marked dirty)."""

    state: VersionState
    step: Step
    script: Script
    duration: int | None


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
