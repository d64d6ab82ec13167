"""Apply a bundle of migrations to a database through a ``Transport``.

State is kept exactly as golang-migrate keeps it, so either tool can continue
where the other stopped: one row in ``schema_migrations (version, dirty)``,
deleted and re-inserted on every change, an empty table meaning "no version".

What this engine adds, and why:

* Each transactional file runs in ONE transaction together with its version
  update: a failing statement leaves nothing of the file behind and the
  database is never dirty. golang-migrate runs files outside a transaction.
* That transaction first takes ``pg_advisory_xact_lock`` and then re-reads the
  version, so two runners started at once (a deploy retried, two laptops)
  never apply the same migration: the second waits, sees the new version and
  moves on. A transaction-scoped lock is used because the RDS Data API pools
  sessions: a session lock would not survive from one call to the next.
* ``schema_migrations_history`` records each applied file's sha256; a file
  edited after it was applied is refused before anything runs.
* A transport that can (psycopg) gets each transactional file in ONE round
  trip (``ScriptExecutor``); when it fails, the file is re-run statement by
  statement in a transaction that is always rolled back, only to name the
  failing statement, so the error reads as if it had been sent piecewise.
* Files declared ``-- migrate:no-transaction`` (CREATE INDEX CONCURRENTLY...)
  follow golang-migrate's dirty protocol: write (version, dirty), run the
  statements in autocommit, write (version, clean). A dirty database refuses
  every command but ``force``.

The engine never imports pglast: the Lambda loads a precompiled bundle.
"""

from __future__ import annotations

import logging
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from dbmigrate.bundle import Bundle
from dbmigrate.errors import (
    ChecksumMismatchError,
    DirtyDatabaseError,
    DirtyStatementError,
    InvalidRequestError,
    MigrationError,
    StateError,
    StatementError,
    db_error_text,
    excerpt,
)
from dbmigrate.model import Migration, Script
from dbmigrate.transport import Executor, Params, ScriptExecutor, SqlValue, Transport

log = logging.getLogger("dbmigrate")

Direction = Literal["up", "down"]

ADVISORY_LOCK_KEY = 7_240_410_632_112_019_883
"""An arbitrary constant bigint shared by every runner of this engine, whatever the database."""

DEFAULT_LOCK_TIMEOUT_MS = 5_000
"""A migration waiting longer than this for a table lock gives up instead of queueing
every application query behind its ACCESS EXCLUSIVE request."""

DEFAULT_STATEMENT_TIMEOUT_MS = 40_000
"""Below the Data API's 45 s per-call cut-off: a slow statement is cancelled by PostgreSQL
itself, the error comes back over the call and the transaction rolls back cleanly, instead
of the client losing the call while the statement may still be running."""

DEFAULT_FORCE_HINT = "python -m ops migrate force {version}"

CREATE_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
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

# The lock comes from FROM, so it is held before the target list sets the timeouts:
# waiting for another runner is not cut short by lock_timeout. set_config(..., true)
# is SET LOCAL: both end with the transaction, as the lock does.
_LOCK_SQL = "SELECT 1 FROM pg_advisory_xact_lock({key})"
_LOCK_AND_LIMIT_SQL = (
    "SELECT set_config('lock_timeout', '{lock_timeout}', true), "
    "set_config('statement_timeout', '{statement_timeout}', true) "
    "FROM pg_advisory_xact_lock({key})"
)

_HISTORY_CTE = (
    "h AS (INSERT INTO schema_migrations_history "
    "(version, name, direction, checksum, duration_ms, applied_by) VALUES "
    "(:h_version, :h_name, :h_direction, :h_checksum, :h_duration_ms, :h_applied_by))"
)
_SET_STATE = (
    "INSERT INTO schema_migrations (version, dirty) VALUES (:version, :dirty) "
    "ON CONFLICT (version) DO UPDATE SET dirty = EXCLUDED.dirty"
)
_DELETE_OTHERS_CTE = "d AS (DELETE FROM schema_migrations WHERE version <> :version)"
# Indexed by "with a history row?".
_SET_STATE_SQL = (
    f"WITH {_DELETE_OTHERS_CTE} {_SET_STATE}",
    f"WITH {_DELETE_OTHERS_CTE}, {_HISTORY_CTE} {_SET_STATE}",
)
_CLEAR_STATE_SQL = (
    "DELETE FROM schema_migrations",
    f"WITH {_HISTORY_CTE} DELETE FROM schema_migrations",
)


_LEXICAL_SETTINGS = re.compile(
    r"standard_conforming_strings|backslash_quote|client_encoding", re.IGNORECASE
)
"""Settings that change how PostgreSQL reads the text of later statements. A
multi-statement query is read whole before its first statement runs, so a file
that mentions one of them is sent a statement at a time."""


class _BatchError(Exception):
    """A file sent in one round trip failed; its transaction is rolled back as this leaves it."""

    def __init__(self, cause: Exception, step: Step, script: Script, before: int | None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.step = step
        self.script = script
        self.before = before


class _RollBackError(Exception):
    """Raised at the end of the diagnostic re-run so that its transaction never commits."""


@dataclass(frozen=True)
class EngineConfig:
    """Tunables; the defaults suit Aurora Serverless v2 behind the Data API."""

    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    lock_key: int = ADVISORY_LOCK_KEY
    applied_by: str = "dbmigrate"
    force_hint: str = DEFAULT_FORCE_HINT
    """How the operator runs ``force``; ``{version}`` is replaced. The Lambda sets its own."""


@dataclass(frozen=True)
class VersionState:
    """The database's recorded version (None: no migration applied) and dirty flag."""

    version: int | None
    dirty: bool


@dataclass(frozen=True)
class Step:
    """One file to run: ``version_after`` is the recorded version once it has run."""

    version: int
    name: str
    direction: Direction
    file: str
    transactional: bool
    version_after: int | None


@dataclass(frozen=True)
class AppliedStep:
    version: int
    name: str
    direction: Direction
    file: str
    duration_ms: int


@dataclass(frozen=True)
class Plan:
    """What ``up`` would do, computed without changing anything."""

    current_version: int | None
    target_version: int | None
    steps: tuple[Step, ...]
    ahead: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunResult:
    """What a command did. ``ahead`` is set when the database is newer than the bundle."""

    start_version: int | None
    end_version: int | None
    applied: tuple[AppliedStep, ...] = field(default=())
    ahead: bool = False
    message: str = ""

    @property
    def applied_versions(self) -> tuple[int, ...]:
        return tuple(a.version for a in self.applied)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        self._transport = transport
        self._bundle = bundle
        self._config = config or EngineConfig()
        self._on_step = on_step
        # Checksums of applied versions up to here match the bundle: checked by this engine
        # or written by it. A step whose locked read finds the version this runner left
        # sends no checksum query; one that finds a version another runner applied since
        # checks only those versions, not the whole history again.
        self._verified_through = -1
        for value in (self._config.lock_timeout_ms, self._config.statement_timeout_ms):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidRequestError("timeouts must be non-negative integers (milliseconds)")
        if not isinstance(self._config.lock_key, int) or isinstance(self._config.lock_key, bool):
            raise InvalidRequestError("lock_key must be an integer")
        # Inlined (validated integers) so the statement text is constant: one prepared
        # statement on psycopg, no parameter encoding per step.
        self._lock_sql = _LOCK_SQL.format(key=int(self._config.lock_key))
        self._lock_and_limit_sql = _LOCK_AND_LIMIT_SQL.format(
            key=int(self._config.lock_key),
            lock_timeout=int(self._config.lock_timeout_ms),
            statement_timeout=int(self._config.statement_timeout_ms),
        )

    # -- read-only commands -------------------------------------------------

    def version(self) -> VersionState:
        """The recorded state; an absent ``schema_migrations`` table means no version."""
        if not self._table_exists(self._transport, "schema_migrations"):
            return VersionState(None, dirty=False)
        return _read_state(self._transport)

    def plan(self, n: int | None = None) -> Plan:
        """What ``up(n)`` would apply now; refuses a dirty or edited database like ``up``."""
        state = self.version()
        self._require_clean(state)
        if self._table_exists(self._transport, "schema_migrations_history"):
            self._verify_checksums(self._transport, state.version)
        ahead = self._ahead_message(state.version)
        if ahead:
            return Plan(state.version, state.version, (), True, ahead)
        target = self._up_target(state.version, n)
        steps = self._steps(state.version, target, "up")
        message = f"{len(steps)} migration(s) pending" if steps else "no change: up to date"
        return Plan(state.version, target, steps, False, message)

    # -- commands that change the database -----------------------------------

    def up(self, n: int | None = None) -> RunResult:
        """Apply all pending migrations, or the next ``n``.

        A database already past the newest bundled version is left alone: the
        result says so instead of failing, so rolling back a deployment to an
        older bundle never tries to undo a forward-only schema change.
        """
        if n is not None and n < 1:
            raise InvalidRequestError(f"up N needs N >= 1, got {n}")
        start = self._prepare()
        ahead = self._ahead_message(start.version)
        if ahead:
            log.info(ahead)
            return RunResult(start.version, start.version, (), ahead=True, message=ahead)
        return self._run(start, self._up_target(start.version, n), "up")

    def migrate_to_latest(self) -> RunResult:
        """``up()`` for the deployment Lambda: newest bundled version, or leave a newer database."""
        return self.up()

    def down(self, n: int) -> RunResult:
        """Revert the last ``n`` applied migrations; all of them must have down files."""
        if n < 1:
            raise InvalidRequestError(f"down N needs N >= 1, got {n}")
        start = self._prepare()
        self._require_known(start.version)
        applied = [
            v for v in self._bundle.versions if start.version is not None and v <= start.version
        ]
        if n > len(applied):
            raise InvalidRequestError(
                f"cannot go down {n}: only {len(applied)} migration(s) applied (database at "
                f"version {_show(start.version)})"
            )
        target = applied[-n - 1] if n < len(applied) else None
        return self._run(start, target, "down")

    def down_all(self) -> RunResult:
        """Revert every applied migration, leaving an empty ``schema_migrations``."""
        start = self._prepare()
        self._require_known(start.version)
        return self._run(start, None, "down")

    def goto(self, version: int) -> RunResult:
        """Migrate up or down to exactly ``version``, which must be a bundled version."""
        if self._bundle.get(version) is None:
            raise InvalidRequestError(
                f"no migration with version {version} in the bundle; "
                f"known versions: {_versions_text(self._bundle.versions)}"
            )
        start = self._prepare()
        self._require_known(start.version)
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
        self._ensure_tables()
        migration = self._bundle.get(version) if version is not None else None
        record = self._history_row(
            version=-1 if version is None else version,
            name=migration.name if migration else "",
            direction="force",
            checksum=None,
            duration_ms=0,
        )
        with self._transport.transaction() as tx:
            self._lock(tx)
            _write_state(tx, version, dirty=False, record=record)
        if version is None or version < self._verified_through:
            self._verified_through = -1 if version is None else version
        log.info("forced version %s (clean)", _show(version))
        return VersionState(version, dirty=False)

    # -- the step loop --------------------------------------------------------

    def _prepare(self) -> VersionState:
        self._ensure_tables()
        state = _read_state(self._transport)
        self._require_clean(state)
        self._verify_checksums(self._transport, state.version)
        return state

    def _run(self, start: VersionState, target: int | None, direction: Direction) -> RunResult:
        steps = self._steps(start.version, target, direction)
        missing = [s for s in steps if s.file == ""]
        if missing:
            first = self._bundle.get(missing[0].version)
            label = first.label if first else str(missing[0].version)
            raise InvalidRequestError(
                f"migration {missing[0].version} ({label}) has no down file: it is forward-only; "
                "write a new up migration that reverses it instead"
            )
        applied: list[AppliedStep] = []
        while (done := self._step(target, direction)) is not None:
            applied.append(done)
            if self._on_step is not None:
                self._on_step(done)
        current = _read_state(self._transport).version
        if not applied:
            message = f"no change: database at version {_show(current)}"
        else:
            message = f"applied {len(applied)} migration(s) {direction}; now at {_show(current)}"
        log.info(message)
        return RunResult(start.version, current, tuple(applied), message=message)

    def _step(self, target: int | None, direction: Direction) -> AppliedStep | None:
        """Take the next step toward ``target`` under the lock, or return None when there.

        The version is re-read inside the lock, and the loop never turns around:
        if another runner already went past the target, this one stops.
        """
        committing = False
        try:
            with self._transport.transaction() as tx:
                tx.execute(self._lock_and_limit_sql)
                # Its own statement, after the lock: a statement's snapshot predates its
                # lock wait, so reading in the lock statement could see a stale version.
                state = _read_state(tx)
                self._require_clean(state)
                self._verify_checksums(tx, state.version)
                step = self._next_step(state.version, target, direction)
                if step is None:
                    return None
                script = self._script(step)
                if not script.transactional:
                    _write_state(tx, step.version_after, dirty=True)
                else:
                    log.info("applying %s (%s)", step.file, direction)
                    started = time.monotonic()
                    self._execute_script(tx, script, step, state.version, long_running=False)
                    duration = _elapsed_ms(started)
                    record = self._history_row(
                        version=step.version,
                        name=step.name,
                        direction=direction,
                        checksum=script.checksum,
                        duration_ms=duration,
                    )
                    _write_state(tx, step.version_after, dirty=False, record=record)
                    committing = True
        except MigrationError:
            raise
        except _BatchError as failed:
            located = self._locate_failure(failed)
            raise located from located.__cause__
        except Exception as exc:
            if not committing or step is None:
                raise
            raise StatementError(
                f"{step.file}: the transaction failed at commit: {db_error_text(exc)}; nothing "
                f"from this file was applied, the database is still at version "
                f"{_show(state.version)}"
            ) from exc
        if committing:
            self._wrote(step)
            return AppliedStep(step.version, step.name, direction, step.file, duration)
        return self._non_transactional(step, script, state.version)

    def _wrote(self, step: Step) -> None:
        """Keep ``_verified_through`` true after this runner recorded ``step``.

        Up: the history now holds this very file's checksum, so the next locked
        read finding ``step.version`` needs no checksum query. Down: versions
        above the new one are no longer applied; if another runner re-applies
        them, they are checked again.
        """
        if step.direction == "up":
            self._verified_through = max(self._verified_through, step.version)
        else:
            after = -1 if step.version_after is None else step.version_after
            self._verified_through = min(self._verified_through, after)

    def _non_transactional(self, step: Step, script: Script, before: int | None) -> AppliedStep:
        """golang-migrate's protocol: the dirty row is committed; now run, then mark clean."""
        log.info(
            "applying %s (%s, no transaction, marked dirty while it runs)",
            step.file,
            step.direction,
        )
        started = time.monotonic()
        self._execute_script(self._transport, script, step, before, long_running=True)
        duration = _elapsed_ms(started)
        record = self._history_row(
            version=step.version,
            name=step.name,
            direction=step.direction,
            checksum=script.checksum,
            duration_ms=duration,
        )
        with self._transport.transaction() as tx:
            self._lock(tx)
            state = _read_state(tx)
            if state != VersionState(step.version_after, dirty=True):
                raise StateError(
                    f"{step.file} ran, but meanwhile the recorded state changed to "
                    f"{_show(state.version)} (dirty={state.dirty}); check the schema and "
                    "use force to record the right version"
                )
            _write_state(tx, step.version_after, dirty=False, record=record)
        self._wrote(step)
        return AppliedStep(step.version, step.name, step.direction, step.file, duration)

    def _execute_script(
        self,
        executor: Executor,
        script: Script,
        step: Step,
        before: int | None,
        *,
        long_running: bool,
    ) -> None:
        statements = script.statements
        if (
            script.transactional
            and len(statements) > 1
            and isinstance(executor, ScriptExecutor)
            and not any(_LEXICAL_SETTINGS.search(s.sql) for s in statements)
        ):
            try:
                executor.execute_script([s.sql for s in statements])
            except Exception as exc:
                raise _BatchError(exc, step, script, before) from exc
            return
        self._execute_statements(executor, script, step, before, long_running=long_running)

    def _locate_failure(self, failed: _BatchError) -> StatementError:
        """The error a file sent in one round trip gets: which statement failed, and why.

        Its transaction is already rolled back. The file is run again a statement
        at a time, under the lock and timeouts of a step, and that transaction is
        rolled back whatever happens: nothing is applied and the state and history
        tables are not written. If the recorded state moved meanwhile, or the re-run
        does not fail (a failure that depends on timing), the original error is
        reported for the file as a whole.
        """
        step, script, before = failed.step, failed.script, failed.before
        try:
            with self._transport.transaction() as tx:
                tx.execute(self._lock_and_limit_sql)
                if _read_state(tx) == VersionState(before, dirty=False):
                    self._execute_statements(tx, script, step, before, long_running=False)
                raise _RollBackError
        except StatementError as located:
            return located
        except _RollBackError:
            pass
        except Exception as exc:  # the connection itself failed: report the original error
            log.warning("re-running %s to find its failing statement failed: %s", step.file, exc)
        error = StatementError(
            f"{script.path}: failed: {db_error_text(failed.cause)}; nothing from this file was "
            f"applied, the database is still at version {_show(before)}"
        )
        error.__cause__ = failed.cause
        return error

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
                        f"version {_show(before)}"
                    ) from exc
                migration = self._bundle.get(step.version)
                rerun = self._rerun_hint(migration, step.direction) if migration else None
                raise DirtyStatementError(
                    f"{where}; {self._dirty_text(step.version_after, rerun)}"
                ) from exc

    # -- planning ------------------------------------------------------------

    def _up_target(self, current: int | None, n: int | None) -> int | None:
        pending = self._steps(current, self._bundle.target_version, "up")
        if not pending:
            return current
        if n is None or n >= len(pending):
            return pending[-1].version
        return pending[n - 1].version

    def _steps(
        self, current: int | None, target: int | None, direction: Direction
    ) -> tuple[Step, ...]:
        """The files between ``current`` and ``target`` in ``direction``; empty if already there."""
        if direction == "up" and self._ahead_message(current):
            return ()
        self._require_known(current)
        steps = []
        if direction == "up":
            for m in self._bundle.migrations:
                if (
                    (current is None or m.version > current)
                    and target is not None
                    and m.version <= target
                ):
                    steps.append(self._make_step(m, "up", m.version))
        else:
            for m in reversed(self._bundle.migrations):
                if (
                    current is not None
                    and m.version <= current
                    and (target is None or m.version > target)
                ):
                    steps.append(self._make_step(m, "down", self._version_before(m.version)))
        return tuple(steps)

    def _next_step(
        self, current: int | None, target: int | None, direction: Direction
    ) -> Step | None:
        """The first of ``_steps(current, target, direction)``, without building the rest.

        The step loop asks this once per file; building every remaining step
        each time made a run O(n^2) in the number of files.
        """
        if direction == "up" and self._ahead_message(current):
            return None
        self._require_known(current)
        if direction == "up":
            versions = self._bundle.versions
            index = 0 if current is None else bisect_right(versions, current)
            if target is None or index == len(versions) or versions[index] > target:
                return None
            migration = self._bundle.migrations[index]
            return self._make_step(migration, "up", migration.version)
        known = self._bundle.get(current) if current is not None else None
        if known is None or (target is not None and known.version <= target):
            return None
        return self._make_step(known, "down", self._version_before(known.version))

    def _make_step(self, m: Migration, direction: Direction, after: int | None) -> Step:
        script = m.up if direction == "up" else m.down
        if script is None:
            return Step(m.version, m.name, direction, "", True, after)
        return Step(m.version, m.name, direction, script.path, script.transactional, after)

    def _script(self, step: Step) -> Script:
        migration = self._bundle.get(step.version)
        script = (
            None
            if migration is None
            else (migration.up if step.direction == "up" else migration.down)
        )
        if script is None:
            raise InvalidRequestError(f"migration {step.version} has no {step.direction} file")
        return script

    def _version_before(self, version: int) -> int | None:
        versions = self._bundle.versions
        index = bisect_left(versions, version)
        return versions[index - 1] if index > 0 else None

    def _ahead_message(self, current: int | None) -> str:
        target = self._bundle.target_version
        if current is not None and (target is None or current > target):
            return (
                f"database at version {current} is ahead of bundle target {_show(target)}; "
                "leaving it (forward-only)"
            )
        return ""

    def _require_known(self, current: int | None) -> None:
        if current is None or self._bundle.get(current) is not None:
            return
        if self._ahead_message(current):
            raise InvalidRequestError(
                f"database at version {current} is ahead of bundle target "
                f"{_show(self._bundle.target_version)}: this bundle cannot move it"
            )
        raise StateError(
            f"database at version {current}, but no migration file has that version; restore the "
            f"file {current:06d}_*.up.sql (known versions: {_versions_text(self._bundle.versions)})"
        )

    # -- checks --------------------------------------------------------------

    def _require_clean(self, state: VersionState) -> None:
        if state.dirty:
            raise DirtyDatabaseError(self._dirty_text(state.version))

    def dirty_message(self, version: int | None) -> str:
        """The refusal a dirty database at ``version`` gets, with the command that clears it."""
        return self._dirty_text(version)

    def _dirty_text(self, version: int | None, rerun: str | None = None) -> str:
        """The refusal, with the exact command to run; ``rerun`` when the failed file is known."""
        shown = -1 if version is None else version
        text = (
            f"database is dirty at version {shown} (a non-transactional migration failed "
            f"midway): fix the schema by hand, then run `{self._force(shown)}`"
        )
        hints = [rerun] if rerun else self._rerun_guesses(version)
        if hints:
            text += f" (or {', or '.join(hints)})"
        return text

    def _rerun_guesses(self, version: int | None) -> list[str]:
        """Which non-transactional file can have left ``version`` dirty, and how to re-run it."""
        guesses = []
        migration = self._bundle.get(version) if version is not None else None
        if migration is not None and not migration.up.transactional:
            guesses.append(self._rerun_hint(migration, "up"))
        later = [m for m in self._bundle.migrations if version is None or m.version > version]
        if later and later[0].down is not None and not later[0].down.transactional:
            guesses.append(self._rerun_hint(later[0], "down"))
        return guesses

    def _rerun_hint(self, migration: Migration, direction: Direction) -> str:
        if direction == "up":
            before = self._version_before(migration.version)
            return (
                f"`{self._force(-1 if before is None else before)}` to re-run {migration.up.path}"
            )
        down = migration.down.path if migration.down else ""
        return f"`{self._force(migration.version)}` to re-run {down}"

    def _force(self, version: int) -> str:
        return self._config.force_hint.format(version=version)

    def _verify_checksums(self, executor: Executor, current: int | None) -> None:
        """Refuse to go on if an applied file changed since it was applied.

        Versions applied before the history existed (by golang-migrate) have no
        row and are accepted as they are.
        """
        if current is None or self._verified_through >= current:
            return
        rows = executor.execute(
            "SELECT DISTINCT ON (version) version, checksum FROM schema_migrations_history "
            "WHERE direction = 'up' AND version > :verified AND version <= :current "
            "ORDER BY version, id DESC",
            {"verified": self._verified_through, "current": current},
        )
        edited = []
        for version, checksum in rows:
            migration = self._bundle.get(int(_as_int(version)))
            if migration is not None and checksum is not None and checksum != migration.up.checksum:
                edited.append(migration.up.path)
        if edited:
            more = f" (and {', '.join(edited[1:])})" if len(edited) > 1 else ""
            raise ChecksumMismatchError(
                f"{edited[0]}{more} was edited after it was applied: restore the applied "
                "content and create a new migration instead"
            )
        self._verified_through = current

    # -- SQL -----------------------------------------------------------------

    def _ensure_tables(self) -> None:
        with self._transport.transaction() as tx:
            self._lock(tx)
            tx.execute(CREATE_VERSION_TABLE)
            tx.execute(CREATE_HISTORY_TABLE)

    def _lock(self, executor: Executor) -> None:
        executor.execute(self._lock_sql)

    def _history_row(
        self,
        *,
        version: int,
        name: str,
        direction: str,
        checksum: str | None,
        duration_ms: int,
    ) -> Params:
        """The parameters of one ``schema_migrations_history`` row, for `_write_state`."""
        return {
            "h_version": version,
            "h_name": name,
            "h_direction": direction,
            "h_checksum": checksum,
            "h_duration_ms": duration_ms,
            "h_applied_by": self._config.applied_by,
        }

    @staticmethod
    def _table_exists(executor: Executor, table: str) -> bool:
        rows = executor.execute("SELECT to_regclass(:table) IS NOT NULL", {"table": table})
        return bool(rows and rows[0][0])


def _read_state(executor: Executor) -> VersionState:
    """golang-migrate's read: the single row, or none; version -1 also means none."""
    rows = executor.execute("SELECT version, dirty FROM schema_migrations LIMIT 1")
    if not rows:
        return VersionState(None, dirty=False)
    version, dirty = _as_int(rows[0][0]), bool(rows[0][1])
    return VersionState(None if version == -1 else version, dirty)


def _write_state(
    executor: Executor, version: int | None, *, dirty: bool, record: Params | None = None
) -> None:
    """golang-migrate's state (one row; none for a clean nil version) and a history row.

    One statement, one round trip: data-modifying CTEs run together on one snapshot.
    The row is written as golang-migrate would leave it: every other row deleted, the
    new one inserted, or updated in place when it is the same version (the dirty
    protocol marks clean the row it marked dirty).
    """
    history = record is not None
    if version is None and not dirty:
        executor.execute(_CLEAR_STATE_SQL[history], record)
        return
    params: dict[str, SqlValue] = {"version": -1 if version is None else version, "dirty": dirty}
    executor.execute(_SET_STATE_SQL[history], {**params, **(record or {})})


def _as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise StateError(f"unexpected version value {value!r} in schema_migrations")
    return int(value)


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _show(version: int | None) -> str:
    return "none" if version is None else str(version)


def _versions_text(versions: tuple[int, ...]) -> str:
    if not versions:
        return "none"
    if len(versions) > 10:
        return f"{versions[0]}..{versions[-1]} ({len(versions)} files)"
    return ", ".join(str(v) for v in versions)
