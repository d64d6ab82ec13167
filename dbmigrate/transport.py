"""The one seam between the migration engine and a database connection.

The engine speaks only this protocol, so the same code runs from the local CLI
(psycopg) and from the migration-runner Lambda (RDS Data API). SQL given to
``execute`` uses ``:name`` placeholders, the Data API's style; each transport
maps them to its driver's style. Migration statements are sent without params.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from dbmigrate.errors import sqlstate_of

SqlValue = str | int | float | bool | None
Row = tuple[SqlValue, ...]
Params = Mapping[str, SqlValue]


class Executor(Protocol):
    """Runs one statement at a time and returns its rows (empty for DDL/DML)."""

    def execute(
        self, sql: str, params: Params | None = None, *, long_running: bool = False
    ) -> list[Row]: ...


Batched = tuple[str, Params | None]
"""One statement of a batch and its parameters (None: sent as it is, no placeholders)."""


class OutcomeUnknownError(Exception):
    """A call ended before its statement did (the Data API's 45 s cut): it may or may not
    have run. Transports raise a subclass; the engine decides what to check."""


class StillRunningError(Exception):
    """A long-running statement outlived the transport's deadline and is still running on
    the server (its call was cut; nothing can cancel it from here). Transports raise a
    subclass; the engine says which file and statement, and a later run can wait for it."""


class UnobservedError(Exception):
    """A long-running statement's call was cut, and the statement has since ended on the
    server; its result (success or error) never came back. The engine confirms what it did
    from the catalog, or leaves it for a person. Transports raise a subclass."""


class BatchError(Exception):
    """``execute_batch`` stopped at a failing transaction; those before it committed.

    ``receipts`` are the committed transactions' receipts, in order, so their
    count says how many committed. The failing transaction was rolled back, none
    after it ran, and the driver's error (with its ``.sqlstate``) is the cause.
    """

    def __init__(self, receipts: Sequence[str], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.receipts = tuple(receipts)
        self.__cause__ = cause

    @property
    def sqlstate(self) -> str | None:
        return sqlstate_of(self.__cause__)


@runtime_checkable
class BatchTransport(Protocol):
    """Optional: a transport that can send several whole transactions in ONE round trip.

    ``execute_batch`` runs each of ``transactions`` (a list of statements) as its
    own transaction, BEGIN ... COMMIT, in order, all in one request. Just before
    each COMMIT it evaluates ``receipt``, a SQL expression whose text (one line) it
    returns for every transaction, so the caller learns what each one measured.
    On the first failure it stops: that transaction is rolled back, none after it
    runs, the connection is left ready for the next call, and ``BatchError`` is
    raised with the receipts of those that committed. If even that cannot be
    learnt (the connection is gone), the driver's error is raised as it is and the
    outcome is unknown. It need not say which statement failed: the engine finds
    out by re-running the file a statement at a time in a transaction it rolls
    back. PostgreSQL applies ``statement_timeout`` to each statement of such a
    request separately. A transport without it (the Data API: one statement per
    call) gets one ``execute`` per statement inside ``transaction()``.
    """

    def execute_batch(
        self, transactions: Sequence[Sequence[Batched]], *, receipt: str
    ) -> list[str]: ...


@runtime_checkable
class SessionTransport(Protocol):
    """Optional: a transport whose every call runs on the same database session.

    Then a session-level advisory lock taken by one call is still held by the
    next, as golang-migrate holds its lock for a whole run (psycopg's single
    connection; not the Data API, which pools sessions between calls).
    """

    keeps_session: bool


class Transport(Executor, Protocol):
    """A connection that can also open transactions.

    ``execute`` on the transport itself runs in autocommit mode (each statement
    its own transaction), which is what non-transactional migrations need.
    ``transaction()`` yields an executor whose statements commit together when
    the block exits normally and roll back when it raises.
    ``long_running=True`` marks a statement that may exceed a transport's call
    limit (the Data API's 45 s); the transport decides how to wait for it.
    """

    def transaction(self) -> AbstractContextManager[Executor]: ...

    def close(self) -> None: ...
