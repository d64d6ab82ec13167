"""Running one migration file, atomically with its version update, under the advisory lock.

Three ways, chosen per file:

* **Batched** (a ``BatchTransport``: psycopg): per file BEGIN, a guard (a
  session-local function, else a ``DO`` block) that takes the lock, sets the
  timeouts and checks that the recorded state is the one the file before it
  left, the file's statements, the state and history write, COMMIT; up to
  ``BATCH_MAX_FILES`` consecutive files sent as one request (a round trip per
  file cost about 0.5 ms, over a tenth of a small file's time). When the guard finds
  the state moved (another runner), that file and those after it did not run,
  and the next is taken the locked way.
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
import re
import time
from dataclasses import dataclass

from dbmigrate.errors import (
    ChecksumMismatchError,
    ConnectError,
    DirtyDatabaseError,
    DirtyStatementError,
    MigrationError,
    StateError,
    StatementError,
    db_error_text,
    excerpt,
)
from dbmigrate.hints import DirtyHints
from dbmigrate.model import Script
from dbmigrate.planning import AppliedStep, Direction, Planner, Step, show
from dbmigrate.state import (
    CREATE_GUARD_FUNCTION_SQL,
    GUARD_FUNCTION,
    SERVER_DURATION_SQL,
    STALE_STATE_SQLSTATE,
    HistoryRow,
    VersionState,
    as_version,
    guard_sql,
    lock_and_limit_sql,
    lock_sql,
    read_state,
    write_state,
    write_state_sql,
)
from dbmigrate.transport import Batched, BatchError, BatchTransport, Executor, Transport

log = logging.getLogger("dbmigrate")

_LEXICAL_SETTINGS = re.compile(
    r"standard_conforming_strings|backslash_quote|client_encoding", re.IGNORECASE
)
"""Settings that change how PostgreSQL reads the text of later statements. A
multi-statement query is read whole before its first statement runs, so a file
that mentions one of them is sent a statement at a time."""


_UNDEFINED = ("42883", "3F000")
"""undefined_function, invalid_schema_name: ``GUARD_FUNCTION`` or its schema is gone."""

BATCH_MAX_FILES = 50
BATCH_MAX_CHARS = 1_000_000
"""How many files (and how much SQL) go in one request; a larger file goes alone.
Beyond ~50 files the gain per request is lost in the noise."""


@dataclass(frozen=True)
class Limits:
    """The advisory lock key and the per-transaction timeouts, validated by the engine."""

    lock_key: int
    lock_timeout_ms: int
    statement_timeout_ms: int
    applied_by: str


class _RollBackError(Exception):
    """Raised at the end of the diagnostic re-run so that its transaction never commits."""


class Stepper:
    """Takes one step at a time toward a target; remembers what it has verified and written."""

    def __init__(
        self, transport: Transport, planner: Planner, hints: DirtyHints, limits: Limits
    ) -> None:
        self._transport = transport
        # Checked once: isinstance against a runtime-checkable Protocol is slow per file.
        self._batch = transport if isinstance(transport, BatchTransport) else None
        self._planner = planner
        self._hints = hints
        self._limits = limits
        # Checksums of applied versions up to here match the bundle: checked by this runner
        # or written by it. A locked read finding the version this runner left sends no
        # checksum query; one finding a version another runner applied since checks only
        # those versions, not the whole history again.
        self.verified_through = -1
        # The state this runner last read or wrote: what a one-round-trip step expects to
        # find under the lock. None: unknown, take the locked way.
        self.known: VersionState | None = None
        # Whether batches open files with GUARD_FUNCTION (None: not created yet) or DO blocks.
        self._guard_function: bool | None = None
        # A batch's failing file, located, to raise once the files it committed are reported.
        self._failed: StatementError | None = None
        self._lock_sql = lock_sql(limits.lock_key)
        self._lock_and_limit_sql = lock_and_limit_sql(
            limits.lock_key,
            lock_timeout_ms=limits.lock_timeout_ms,
            statement_timeout_ms=limits.statement_timeout_ms,
        )

    def lock(self, executor: Executor) -> None:
        executor.execute(self._lock_sql)

    def advance(self, target: int | None, direction: Direction) -> list[AppliedStep]:
        """Take the next step(s) toward ``target``; [] when there."""
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed from failed.__cause__
        if applied := self._batched(target, direction):
            return applied
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

    # -- one round trip for several files ----------------------------------------

    def _batched(self, target: int | None, direction: Direction) -> list[AppliedStep]:
        """The next files in one request, when the transport and the files allow; [] if not taken.

        Each file is its own transaction, opened by a guard expecting the state the
        file before it leaves. When one fails, those before it have committed and
        are returned: the next call starts a new batch at the failing file, and only
        a failure of a batch's first file is reported (it is then located first).
        """
        known, batch_transport = self.known, self._batch
        if (
            batch_transport is None
            or known is None
            or known.dirty
            or (known.version is not None and self.verified_through < known.version)
        ):
            return []
        files = self._next_files(known.version, target, direction)
        if not files:
            return []  # the locked way confirms, under the lock, that there is nothing to do
        if self._guard_function is None:
            self._guard_function = self._create_guard_function()
        _log_applying([step for step, _ in files], direction)
        expected, transactions = known, []
        for step, script in files:
            transactions.append(self._transaction(step, script, expected))
            expected = VersionState(step.version_after, dirty=False)
        failure: Exception | None = None
        try:
            receipts = batch_transport.execute_batch(transactions, receipt=SERVER_DURATION_SQL)
        except BatchError as exc:
            receipts = list(exc.receipts)
            failure = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        except Exception as exc:
            raise self._outcome_unknown(files, direction, exc) from exc
        committed = zip(files[: len(receipts)], receipts, strict=True)
        applied = [self._committed(step, receipt) for (step, _), receipt in committed]
        if failure is None:
            return applied
        if getattr(failure, "sqlstate", None) == STALE_STATE_SQLSTATE:
            log.info("the recorded state moved (another runner): re-reading it under the lock")
            self.known = None
            return applied
        if self._guard_function and _guard_function_gone(failure):
            # A migration ran DISCARD TEMP, or a pooler moved us to another session: the
            # guard failed before its file ran. Send DO blocks from now on.
            self._guard_function = False
            return applied
        step, script = files[len(applied)]
        before = files[len(applied) - 1][0].version_after if applied else known.version
        located = self._locate_failure(failure, step, script, before)
        if not applied:
            raise located from located.__cause__
        self._failed = located  # raised by the next call, once these are reported
        return applied

    def _next_files(
        self, current: int | None, target: int | None, direction: Direction
    ) -> list[tuple[Step, Script]]:
        """The next transactional files from ``current`` toward ``target`` that fit one batch."""
        files: list[tuple[Step, Script]] = []
        size = 0
        while len(files) < BATCH_MAX_FILES:
            step = self._planner.next_step(current, target, direction)
            if step is None:
                break
            script = self._planner.script(step)
            size += sum(len(s.sql) for s in script.statements)
            if not script.transactional or _changes_lexing(script):
                break
            if files and size > BATCH_MAX_CHARS:
                break
            files.append((step, script))
            current = step.version_after
        return files

    def _transaction(self, step: Step, script: Script, expected: VersionState) -> list[Batched]:
        record = self.history_row(step, script.checksum, None)  # duration: the server's
        return [
            (self._guard(expected), None),
            *((s.sql, None) for s in script.statements),
            write_state_sql(step.version_after, dirty=False, record=record),
        ]

    def _guard(self, expected: VersionState) -> str:
        return guard_sql(
            self._limits.lock_key,
            lock_timeout_ms=self._limits.lock_timeout_ms,
            statement_timeout_ms=self._limits.statement_timeout_ms,
            expected=expected,
            function=bool(self._guard_function),
        )

    def _create_guard_function(self) -> bool:
        """Whether this session now has ``GUARD_FUNCTION``; without it, DO blocks are sent."""
        try:
            self._transport.execute(CREATE_GUARD_FUNCTION_SQL)
        except Exception as exc:  # no TEMP privilege, a read-only session...: DO blocks
            log.debug("guarding with DO blocks: cannot create %s: %s", GUARD_FUNCTION, exc)
            return False
        return True

    def _committed(self, step: Step, receipt: str) -> AppliedStep:
        """A file its batch committed; ``receipt``: its duration as the server measured it."""
        self.wrote(VersionState(step.version_after, dirty=False), step)
        duration = int(receipt) if receipt.isdigit() else 0
        return AppliedStep(step.version, step.name, step.direction, step.file, duration)

    def _outcome_unknown(
        self, files: list[tuple[Step, Script]], direction: Direction, cause: Exception
    ) -> ConnectError:
        self.known = None
        first, last = files[0][0].file, files[-1][0].file
        which = first if first == last else f"{first} to {last}"
        return ConnectError(
            f"the connection failed while applying {which} ({direction}): {db_error_text(cause)}; "
            "each file is all or nothing, but which of them committed is unknown: run "
            "`version` to see the database's version before going on"
        )

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
        try:
            with self._transport.transaction() as tx:
                tx.execute(self._lock_and_limit_sql)
                if read_state(tx) == VersionState(before, dirty=False):
                    self._execute_statements(tx, script, step, before, long_running=False)
                raise _RollBackError
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

    # -- under the lock, one statement per call ------------------------------------

    def _locked(self, target: int | None, direction: Direction) -> AppliedStep | None:
        """Lock, read the state under it, and run the next file there, or return None.

        The loop never turns around: if another runner already went past the
        target, this one stops.
        """
        committing = False
        state, step = self.known, None
        try:
            with self._transport.transaction() as tx:
                tx.execute(self._lock_and_limit_sql)
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
                else:
                    log.info("applying %s (%s)", step.file, direction)
                    started = time.monotonic()
                    self._execute_statements(tx, script, step, state.version, long_running=False)
                    duration = _elapsed_ms(started)
                    record = self.history_row(step, script.checksum, duration)
                    write_state(tx, step.version_after, dirty=False, record=record)
                    committing = True
        except MigrationError:
            raise
        except Exception as exc:
            if not committing or step is None or state is None:
                raise
            raise StatementError(
                f"{step.file}: the transaction failed at commit: {db_error_text(exc)}; nothing "
                f"from this file was applied, the database is still at version "
                f"{show(state.version)}"
            ) from exc
        if committing:
            self.wrote(VersionState(step.version_after, dirty=False), step)
            return AppliedStep(step.version, step.name, direction, step.file, duration)
        self.known = VersionState(step.version_after, dirty=True)
        return self._non_transactional(step, script, state.version)

    def _non_transactional(self, step: Step, script: Script, before: int | None) -> AppliedStep:
        """golang-migrate's protocol: the dirty row is committed; now run, then mark clean."""
        log.info(
            "applying %s (%s, no transaction, marked dirty while it runs)",
            step.file,
            step.direction,
        )
        started = time.monotonic()
        self._execute_statements(self._transport, script, step, before, long_running=True)
        duration = _elapsed_ms(started)
        record = self.history_row(step, script.checksum, duration)
        with self._transport.transaction() as tx:
            self.lock(tx)
            state = read_state(tx)
            if state != VersionState(step.version_after, dirty=True):
                self.known = None
                raise StateError(
                    f"{step.file} ran, but meanwhile the recorded state changed to "
                    f"{show(state.version)} (dirty={state.dirty}); check the schema and "
                    "use force to record the right version"
                )
            write_state(tx, step.version_after, dirty=False, record=record)
        self.wrote(VersionState(step.version_after, dirty=False), step)
        return AppliedStep(step.version, step.name, step.direction, step.file, duration)

    def _execute_statements(
        self,
        executor: Executor,
        script: Script,
        step: Step,
        before: int | None,
        *,
        long_running: bool,
    ) -> None:
        for statement in script.statements:
            try:
                executor.execute(statement.sql, long_running=long_running)
            except Exception as exc:
                where = (
                    f"{script.path} line {statement.line}: statement `{excerpt(statement.sql)}` "
                    f"failed: {db_error_text(exc)}"
                )
                if script.transactional:
                    raise StatementError(
                        f"{where}; nothing from this file was applied, the database is still at "
                        f"version {show(before)}"
                    ) from exc
                migration = self._planner.bundle.get(step.version)
                rerun = self._hints.rerun(migration, step.direction) if migration else None
                dirty = self._hints.text(step.version_after, rerun)
                raise DirtyStatementError(f"{where}; {dirty}") from exc


def _guard_function_gone(failure: Exception) -> bool:
    return getattr(failure, "sqlstate", None) in _UNDEFINED and "dbmigrate_guard" in str(failure)


def _changes_lexing(script: Script) -> bool:
    return any(_LEXICAL_SETTINGS.search(s.sql) for s in script.statements)


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _log_applying(steps: list[Step], direction: Direction) -> None:
    if len(steps) == 1:
        log.info("applying %s (%s)", steps[0].file, direction)
    else:
        log.info(
            "applying %s to %s (%s files, %s, each in its own transaction)",
            steps[0].file,
            steps[-1].file,
            len(steps),
            direction,
        )
