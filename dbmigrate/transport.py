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


@runtime_checkable
class BatchTransport(Protocol):
    """Optional: a transport that can run a whole transaction in ONE round trip.

    ``execute_batch`` runs BEGIN, ``statements`` in order, COMMIT, as one request.
    Either all of them commit or, when one fails, none does: the transaction is
    rolled back, the connection is left ready for the next call, and the failing
    statement's error is raised with its SQLSTATE as ``.sqlstate``. It need not
    say which statement failed: the engine finds out by re-running the file a
    statement at a time in a transaction it rolls back. PostgreSQL applies
    ``statement_timeout`` to each statement of such a request separately. A
    transport without it (the Data API: one statement per call) gets one
    ``execute`` per statement inside ``transaction()``.
    """

    def execute_batch(self, statements: Sequence[Batched]) -> None: ...


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
