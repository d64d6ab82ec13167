"""The ``Transport`` over psycopg2, for the ``ops migrate`` CLI: what developers type all day.

Same SQL, same batches, same session as ``psycopg_transport``
(``dbmigrate.transports.session``); only the driver differs. The reason is
start-up time: ``import psycopg`` took 0.21 s of a 0.30 s ``ops migrate
version`` here, ``import psycopg2`` 0.06 s (both drivers wrap libpq, so the
connection string, the protocol and the server's errors are the same). The
CLI falls back to psycopg 3 where the two could differ in what the user sees:
a connection that fails (its message), or psycopg2 missing.

Ctrl-C: psycopg2 blocks in libpq, where Python's KeyboardInterrupt cannot
reach. `wait_interruptibly` (installed on connect) lets libpq be polled from
Python: an interrupt cancels the running statement on the server, waits for it
to stop, and is raised again, as psycopg 3 does.
"""

from __future__ import annotations

import select
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from dbmigrate.errors import ConnectError, InvalidConnectionStringError, one_line
from dbmigrate.transport import Executor, Params, SqlValue
from dbmigrate.transports.session import ISOLATION, SessionExecutor, redact_url


def wait_interruptibly(conn: Any) -> None:
    """psycopg2's wait callback: poll libpq; on Ctrl-C cancel, drain, then re-raise."""
    interrupted = False
    while True:
        try:
            state = conn.poll()
            if state == psycopg2.extensions.POLL_OK:
                break
            if state == psycopg2.extensions.POLL_READ:
                select.select([conn.fileno()], [], [])
            elif state == psycopg2.extensions.POLL_WRITE:
                select.select([], [conn.fileno()], [])
        except KeyboardInterrupt:
            conn.cancel()
            interrupted = True
        except psycopg2.extensions.QueryCanceledError:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
    if interrupted:
        raise KeyboardInterrupt


class Psycopg2Transport(SessionExecutor):
    """A ``Transport`` owning one autocommit psycopg2 connection (a ``SessionTransport``)."""

    def __init__(self, conn: Any) -> None:
        super().__init__()
        self._conn = conn
        self._cursor = conn.cursor()

    @classmethod
    def connect(
        cls, url: str, *, connect_timeout: int = 10, application_name: str = "dbmigrate"
    ) -> Psycopg2Transport:
        """Open a connection; failures become one-line ``ConnectError``s without the password."""
        psycopg2.extensions.set_wait_callback(wait_interruptibly)
        try:
            conn = psycopg2.connect(
                url, connect_timeout=connect_timeout, application_name=application_name
            )
        except psycopg2.ProgrammingError as exc:
            raise InvalidConnectionStringError(
                f"invalid database URL {redact_url(url)!r}: {one_line(str(exc), 500)}"
            ) from exc
        except psycopg2.OperationalError as exc:
            raise ConnectError(
                f"cannot connect to {redact_url(url)}: {one_line(str(exc), 1000)}"
            ) from exc
        conn.autocommit = True
        return cls(conn)

    def _query(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]] | None:
        cur = self._cursor
        # Without arguments psycopg2 sends the text as it is (no % formatting).
        cur.execute(sql) if params is None else cur.execute(sql, dict(params))
        return None if cur.description is None else cur.fetchall()

    def _mogrify(self, sql: str, params: Params | Sequence[SqlValue]) -> str:
        text: bytes = self._cursor.mogrify(sql, params)
        return text.decode(psycopg2.extensions.encodings.get(self._conn.encoding, "utf-8"))

    def _idle(self) -> bool:
        status: int = self._conn.info.transaction_status
        return status == psycopg2.extensions.TRANSACTION_STATUS_IDLE

    def _is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg2.Error)

    def _statement_name_gone(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg2.errors.InvalidSqlStatementName)

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        # Statements on this connection inside the block belong to the transaction.
        self._cursor.execute(f"BEGIN ISOLATION LEVEL {ISOLATION}")
        try:
            yield self
        except BaseException:
            self._roll_back_failed_batch()
            raise
        self._cursor.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()
