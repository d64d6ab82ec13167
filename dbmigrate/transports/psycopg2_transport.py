"""The ``Transport`` over psycopg2, for the ``ops migrate`` CLI: what developers type all day.

Same SQL, same batches, same session as ``psycopg_transport``
(``dbmigrate.transports.session``); only the driver differs. The reason is
start-up time: ``import psycopg`` took 0.21 s of a 0.30 s ``ops migrate
version`` here, ``import psycopg2`` 0.05 s (both drivers wrap libpq, so the
connection string, the protocol and the server's errors are the same; a failed
connection is worded as psycopg 3 words it). The CLI uses psycopg 3 when
psycopg2 is not installed.

Ctrl-C: psycopg2 blocks in libpq, where Python's KeyboardInterrupt cannot
reach. `wait_interruptibly` (installed once connected) lets libpq be polled from
Python: an interrupt cancels the running statement on the server, waits for it
to stop, and is raised again, as psycopg 3 does, the connection still usable.
"""

from __future__ import annotations

import select
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dbmigrate.transports import psycopg2_without_ssl  # noqa: F401 - before psycopg2

# isort: split
import psycopg2
import psycopg2.errors
import psycopg2.extensions

from dbmigrate.errors import ConnectError, InvalidConnectionStringError, one_line
from dbmigrate.transport import Executor, Params, SqlValue
from dbmigrate.transports.session import ISOLATION, SessionExecutor, redact_url

_interrupted: set[int] = set()
"""Connections (by id) whose running statement a Ctrl-C cancelled: their query's
QueryCanceled error is raised as the KeyboardInterrupt it stands for (``_query``)."""


def wait_interruptibly(conn: Any) -> None:
    """psycopg2's wait callback: poll libpq, so that Ctrl-C reaches a running statement.

    The first Ctrl-C cancels the statement on the server and lets its query end (with
    QueryCanceled, which the transport turns back into KeyboardInterrupt), so that the
    connection stays usable, as on psycopg 3; a second one gives up on it at once.
    Installed once connected: libpq enforces ``connect_timeout`` only on its blocking path.
    """
    while True:
        try:
            state = conn.poll()
            if state == psycopg2.extensions.POLL_OK:
                return
            if state == psycopg2.extensions.POLL_READ:
                select.select([conn.fileno()], [], [])
            elif state == psycopg2.extensions.POLL_WRITE:
                select.select([], [conn.fileno()], [])
        except KeyboardInterrupt:
            if id(conn) in _interrupted:
                raise
            _interrupted.add(id(conn))
            conn.cancel()


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
        # The callback is process-wide: without it, libpq connects on its blocking path,
        # the only one where it enforces connect_timeout.
        psycopg2.extensions.set_wait_callback(None)
        try:
            conn = psycopg2.connect(
                url, connect_timeout=connect_timeout, application_name=application_name
            )
        except psycopg2.ProgrammingError as exc:
            # psycopg 3 shows libpq's words alone; psycopg2 puts "invalid dsn: " before them.
            text = str(exc).removeprefix("invalid dsn: ")
            raise InvalidConnectionStringError(
                f"invalid database URL {redact_url(url)!r}: {one_line(text, 500)}"
            ) from exc
        except psycopg2.OperationalError as exc:
            # psycopg 3's wording ("connection failed: " and libpq's message), so that the
            # CLI says what it always said.
            raise ConnectError(
                f"cannot connect to {redact_url(url)}: connection failed: "
                f"{one_line(str(exc), 1000)}"
            ) from exc
        conn.autocommit = True
        psycopg2.extensions.set_wait_callback(wait_interruptibly)
        return cls(conn)

    def _query(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]] | None:
        cur = self._cursor
        try:
            # Without arguments psycopg2 sends the text as it is (no % formatting).
            cur.execute(sql) if params is None else cur.execute(sql, dict(params))
        except psycopg2.errors.QueryCanceled:
            if id(self._conn) in _interrupted:
                _interrupted.discard(id(self._conn))
                raise KeyboardInterrupt from None
            raise
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
        # Statements on this connection inside the block belong to the transaction; the
        # engine never nests them (psycopg2 has no savepoint here: refuse instead).
        if not self._idle():
            raise RuntimeError("a transaction is already open on this connection")
        self._query(f"BEGIN ISOLATION LEVEL {ISOLATION}")
        try:
            yield self
        except BaseException:
            self._roll_back_failed_batch()
            raise
        self._query("COMMIT")

    def close(self) -> None:
        self._conn.close()
