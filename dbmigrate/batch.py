"""Several migration files in one request, each still its own guarded transaction.

On psycopg a round trip per file cost about 0.5 ms, over a tenth of a small
file's time. So consecutive transactional files go together: per file BEGIN, a
guard that takes the lock, sets the timeouts and checks that the recorded state
is the one the file before it left, the file's statements, the state and
history write, COMMIT. The transport's receipts tell which files committed and
how long each took. The stepper decides when a batch may be taken and what a
failure means; this module builds the request and reads back its outcome.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import NamedTuple

from dbmigrate.errors import ConnectError, db_error_text, sqlstate_of
from dbmigrate.locks import Limits
from dbmigrate.model import Script
from dbmigrate.planning import Direction, Planner, Step
from dbmigrate.state import (
    CREATE_GUARD_FUNCTION_SQL,
    GUARD_FUNCTION,
    SERVER_DURATION_SQL,
    HistoryRow,
    VersionState,
    guard_sql,
    write_state_sql,
)
from dbmigrate.transport import Batched, BatchError, BatchTransport, Executor

log = logging.getLogger("dbmigrate")

BATCH_MAX_FILES = 50
BATCH_MAX_CHARS = 1_000_000
"""How many files (and how much SQL) go in one request; a larger file goes alone.
Beyond ~50 files the gain per request is lost in the noise."""

_LEXICAL_SETTINGS = re.compile(
    r"standard_conforming_strings|backslash_quote|client_encoding", re.IGNORECASE
)
"""Settings that change how PostgreSQL reads the text of later statements. A
multi-statement query is read whole before its first statement runs, so a file
that mentions one of them is sent a statement at a time."""

_UNDEFINED = ("42883", "3F000")
"""undefined_function, invalid_schema_name: ``GUARD_FUNCTION`` or its schema is gone."""

File = tuple[Step, Script]
HistoryRowFor = Callable[[Step, str | None, int | None], HistoryRow]


class Outcome(NamedTuple):
    """What a request did: the files that committed, each with its server-measured
    duration in ms, in order; then, if one failed, why (nothing after it ran)."""

    committed: tuple[tuple[Step, int], ...]
    failure: Exception | None


class Batcher:
    """Builds and sends the requests; remembers how this session guards its files."""

    def __init__(
        self,
        transport: BatchTransport,
        executor: Executor,
        planner: Planner,
        limits: Limits,
        history_row: HistoryRowFor,
    ) -> None:
        self._transport = transport
        self._executor = executor
        self._planner = planner
        self.limits = limits
        self._history_row = history_row
        # GUARD_FUNCTION (True), DO blocks (False), or not decided yet (None).
        self._guard_function: bool | None = None

    def next_files(
        self, current: int | None, target: int | None, direction: Direction
    ) -> list[File]:
        """The next transactional files from ``current`` toward ``target`` that fit one batch."""
        files: list[File] = []
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

    def send(self, files: list[File], expected: VersionState) -> Outcome:
        """Apply ``files`` in one request, the first expecting the state ``expected``.

        Raises ``ConnectError`` when the connection fails so that what committed
        cannot be known.
        """
        if self._guard_function is None:
            self._guard_function = self._create_guard_function()
        committed: list[tuple[Step, int]] = []
        while True:
            outcome = self._send(files[len(committed) :], expected)
            committed.extend(outcome.committed)
            if not (self._guard_function and _guard_function_gone(outcome.failure)):
                return Outcome(tuple(committed), outcome.failure)
            # A migration ran DISCARD TEMP, or a pooler moved us to another session: the
            # guard failed before its file ran. The rest goes again, with DO blocks.
            self._guard_function = False
            if committed:
                expected = VersionState(committed[-1][0].version_after, dirty=False)

    def _send(self, files: list[File], expected: VersionState) -> Outcome:
        transactions = []
        for step, script in files:
            transactions.append(self._transaction(step, script, expected))
            expected = VersionState(step.version_after, dirty=False)
        failure: Exception | None = None
        try:
            receipts = self._transport.execute_batch(transactions, receipt=SERVER_DURATION_SQL)
        except BatchError as exc:
            receipts = list(exc.receipts)
            failure = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        except Exception as exc:
            raise _outcome_unknown(files, exc) from exc
        done = zip(files[: len(receipts)], receipts, strict=True)
        return Outcome(tuple((step, _duration(receipt)) for (step, _), receipt in done), failure)

    def _transaction(self, step: Step, script: Script, expected: VersionState) -> list[Batched]:
        record = self._history_row(step, script.checksum, None)  # duration: the server's
        guard = guard_sql(self.limits, expected=expected, function=bool(self._guard_function))
        return [
            (guard, None),
            *((s.sql, None) for s in script.statements),
            write_state_sql(step.version_after, dirty=False, record=record),
        ]

    def _create_guard_function(self) -> bool:
        """Whether this session now has ``GUARD_FUNCTION``; without it, DO blocks are sent."""
        try:
            self._executor.execute(CREATE_GUARD_FUNCTION_SQL)
        except Exception as exc:  # no TEMP privilege, a read-only session...: DO blocks
            log.debug("guarding with DO blocks: cannot create %s: %s", GUARD_FUNCTION, exc)
            return False
        return True


def log_applying(files: list[File]) -> None:
    first, last = files[0][0], files[-1][0]
    if len(files) == 1:
        log.info("applying %s (%s)", first.file, first.direction)
    else:
        log.info(
            "applying %s to %s (%s files, %s, each in its own transaction)",
            first.file,
            last.file,
            len(files),
            first.direction,
        )


def _outcome_unknown(files: list[File], cause: Exception) -> ConnectError:
    first, last = files[0][0], files[-1][0]
    which = first.file if first == last else f"{first.file} to {last.file}"
    return ConnectError(
        f"the connection failed while applying {which} ({first.direction}): "
        f"{db_error_text(cause)}; each file is all or nothing, but which of them committed "
        "is unknown: run `version` to see the database's version before going on"
    )


def _duration(receipt: str) -> int:
    return int(receipt) if receipt.isdigit() else 0


def _guard_function_gone(failure: Exception | None) -> bool:
    return sqlstate_of(failure) in _UNDEFINED and "dbmigrate_guard" in str(failure)


def _changes_lexing(script: Script) -> bool:
    return any(_LEXICAL_SETTINGS.search(s.sql) for s in script.statements)
