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


@runtime_checkable
class ScriptExecutor(Protocol):
    """Optional: a transaction executor that can run a whole script in one round trip.

    ``execute_script`` runs ``statements`` (without their trailing semicolons) in
    order, inside the executor's open transaction, as if each had been sent by
    ``execute``; it returns nothing, and when one fails it raises that statement's
    error, which aborts the transaction. It need not say which statement failed:
    the engine finds out by re-running the script statement by statement in a
    transaction it rolls back. Only transactional scripts are sent this way. A
    transport without it (the Data API: one statement per call) gets one
    ``execute`` per statement.
    """

    def execute_script(self, statements: Sequence[str]) -> None: ...


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
