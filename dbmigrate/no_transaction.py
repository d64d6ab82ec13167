"""The statements of one no-transaction file, sent so that another run can continue them.

The stepper marks the version dirty (golang-migrate's protocol) and records the
file in ``schema_migrations_running`` (``dbmigrate.resume``); this sends its
statements in autocommit, each behind its marker, and confirms from the catalog
what a statement did when its answer was lost. It also waits for a statement a
previous run left running. Marking the file clean is the stepper's (it holds
the lock). Any failure, or an interrupt, forgets the row first: what is left is
golang-migrate's plain dirty state, for a person.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from dbmigrate import resume
from dbmigrate.errors import DirtyStatementError, StatementRunningError, db_error_text, excerpt
from dbmigrate.hints import DirtyHints
from dbmigrate.model import Script, Statement
from dbmigrate.planning import Planner, Step
from dbmigrate.resume import Running
from dbmigrate.transport import StillRunningError, Transport, UnobservedError

log = logging.getLogger("dbmigrate")

WAIT_POLL_SECONDS = 2.0
"""How often a run waiting for a statement another run left looks at pg_stat_activity."""

WAIT_LOG_SECONDS = 60.0
"""How often that wait says so in the log."""

StopWhen = Callable[[], bool]


class NoTransactionFile(NamedTuple):
    """One no-transaction file of one run: ``step`` and its ``script``."""

    transport: Transport
    planner: Planner
    hints: DirtyHints
    step: Step
    script: Script
    sleep: Callable[[float], None] = time.sleep

    def send_from(self, first: int) -> None:
        """Send the statements from index ``first`` on, in order, each claimed first."""
        statements = self.script.statements
        for index in range(first, len(statements)):
            self._send(index, statements[index])

    def wait(self, running: Running, stop_when: StopWhen | None) -> None:
        """Wait while the statement ``running`` names still runs; then confirm what it did.

        Past ``stop_when`` it raises `StatementRunningError`: the file stays dirty
        with its row, for the next run to wait on.
        """
        statement = self._statement(running.index)
        waited_from = time.monotonic()
        logged = waited_from
        watch = resume.Watch(self.transport, running)
        while watch.running(time.monotonic() - waited_from):
            seconds = running.seconds + round(time.monotonic() - waited_from)
            if stop_when is not None and stop_when():
                raise self._still_running(running.index, statement, seconds)
            if time.monotonic() - logged >= WAIT_LOG_SECONDS:
                log.info(self._waiting_text(running.index, statement, seconds))
                logged = time.monotonic()
            self.sleep(WAIT_POLL_SECONDS)
        self._confirm(statement)

    def status_text(self, running: Running) -> str:
        """What ``version`` and ``plan`` say about a file a run left behind."""
        if running.index < 0:
            return "no statement sent yet"
        statement = self._statement(running.index)
        count = len(self.script.statements)
        where = (
            f"statement {running.index + 1} of {count} (line {statement.line}) "
            f"`{excerpt(statement.sql)}`, sent {running.seconds} s ago"
        )
        if resume.visible(self.transport, running):
            return f"{where}, is still running on the server"
        return f"{where}, is no longer running (`up` confirms what it did)"

    # -- one statement -------------------------------------------------------------

    def _send(self, index: int, statement: Statement) -> None:
        version = resume.dirty_key(self.step.version_after)
        marker = resume.marker(version, index, len(self.script.statements), self.script.checksum)
        if not resume.claim(self.transport, version, index, marker):
            raise StatementRunningError(
                f"{self.script.path}: another run is continuing this file (it sent statement "
                f"{index + 1} first); wait for it, then run `version`",
                file=self.script.path,
                statement=excerpt(statement.sql),
                running_seconds=0,
            )
        started = time.monotonic()
        try:
            self.transport.execute(marker + statement.sql, long_running=True)
        except StillRunningError as exc:
            seconds = round(time.monotonic() - started)
            raise self._still_running(index, statement, seconds) from exc
        except UnobservedError:
            self._confirm(statement)
        except Exception as exc:
            self._forget_quietly()
            raise self._failed(statement, db_error_text(exc)) from exc
        except BaseException:  # Ctrl-C
            # A driver that cancelled it leaves nothing running to wait for; over the Data API
            # it runs on, and the next `up` must still find its record.
            if getattr(self.transport, "cancels_on_interrupt", False):
                self._forget_quietly()
            raise

    def _confirm(self, statement: Statement) -> None:
        """A statement that ended unobserved counts as done only if the catalog says so."""
        why = resume.confirmed(self.transport, statement.sql)
        if why is None:
            return
        self._forget_quietly()
        raise self._failed(statement, f"it ended while no run was watching, and {why}")

    def _failed(self, statement: Statement, why: str) -> DirtyStatementError:
        where = (
            f"{self.script.path} line {statement.line}: statement `{excerpt(statement.sql)}` "
            f"failed: {why}"
        )
        migration = self.planner.bundle.get(self.step.version)
        rerun = self.hints.rerun(migration, self.step.direction) if migration else None
        return DirtyStatementError(f"{where}; {self.hints.text(self.step.version_after, rerun)}")

    def _forget_quietly(self) -> None:
        """A reported failure is for a person to fix: the next run must not continue it."""
        try:
            resume.clear(self.transport)
        except Exception as exc:
            log.warning("could not clear %s: %s", resume.RUNNING_TABLE, exc)

    def _still_running(
        self, index: int, statement: Statement, seconds: int
    ) -> StatementRunningError:
        then = (
            "the next `up` waits for it and goes on"
            if self.step.direction == "up"
            else "wait for it to end, check it, then `force` the version"
        )
        return StatementRunningError(
            f"{self._waiting_text(index, statement, seconds)}; the database stays dirty at "
            f"version {resume.dirty_key(self.step.version_after)} until it ends; {then}",
            file=self.script.path,
            statement=excerpt(statement.sql),
            running_seconds=seconds,
        )

    def _waiting_text(self, index: int, statement: Statement, seconds: int) -> str:
        count = len(self.script.statements)
        return (
            f"{self.script.path} statement {index + 1} of {count} (line {statement.line}) "
            f"`{excerpt(statement.sql)}` still running on the server after {seconds} s"
        )

    def _statement(self, index: int) -> Statement:
        statements = self.script.statements
        return statements[min(max(index, 0), len(statements) - 1)]
