"""The ``Transport`` over a direct psycopg 3 connection: the library's, the tests', ``ops access``.

The connection is in autocommit mode so that ``execute`` on the transport runs
each statement on its own (what non-transactional migrations need), while
``transaction()`` wraps a block in BEGIN/COMMIT with ``conn.transaction()``.
``execute_batch`` sends whole transactions (migration files, each with its
bookkeeping) in one round trip (``dbmigrate.transports.session``, shared with
the psycopg2 transport the ``ops migrate`` CLI uses).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from dbmigrate.errors import ConnectError, InvalidConnectionStringError, one_line
from dbmigrate.transport import Executor, Params, SqlValue
from dbmigrate.transports.session import (
    RECEIPTS_SETTING,
    SessionExecutor,
    redact_url,
    to_positional,
    to_pyformat,
)

__all__ = ["RECEIPTS_SETTING", "PsycopgTransport", "redact_url", "to_positional", "to_pyformat"]


class PsycopgTransport(SessionExecutor):
    """A ``Transport`` owning one autocommit psycopg connection (a ``SessionTransport``)."""

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        super().__init__()
        self._conn = conn
        conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED  # see session.ISOLATION
        # One cursor for every statement: results are fetched before execute returns,
        # so nothing is left on it, and a new cursor per statement was measurable.
        self._cursor = conn.cursor()
        self._literals = psycopg.ClientCursor(conn)

    def _query(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]] | None:
        cur = self._cursor
        if params is None:
            # No parameters and never prepared: psycopg sends the text as it is, over the
            # simple query protocol (several statements allowed).
            cur.execute(sql, prepare=False)
        else:
            cur.execute(sql, dict(params))
        return None if cur.description is None else cur.fetchall()

    def _mogrify(self, sql: str, params: Params | Sequence[SqlValue]) -> str:
        return self._literals.mogrify(sql, params)

    def _idle(self) -> bool:
        return self._conn.info.transaction_status == TransactionStatus.IDLE

    def _is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.Error)

    def _statement_name_gone(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.errors.InvalidSqlStatementName)

    @classmethod
    def connect(
        cls, url: str, *, connect_timeout: int = 10, application_name: str = "dbmigrate"
    ) -> PsycopgTransport:
        """Open a connection; failures become one-line ``ConnectError``s without the password."""
        try:
            conn = psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=connect_timeout,
                application_name=application_name,
            )
        except psycopg.ProgrammingError as exc:
            raise InvalidConnectionStringError(
                f"invalid database URL {redact_url(url)!r}: {one_line(str(exc), 500)}"
            ) from exc
        except psycopg.OperationalError as exc:
            raise ConnectError(
                f"cannot connect to {redact_url(url)}: {one_line(str(exc), 1000)}"
            ) from exc
        return cls(conn)

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        # Statements on this connection inside the block belong to the transaction.
        with self._conn.transaction():
            yield self

    def close(self) -> None:
        self._conn.close()
