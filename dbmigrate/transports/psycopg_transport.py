"""The ``Transport`` over a direct psycopg 3 connection, for the CLI and the tests.

The connection is in autocommit mode so that ``execute`` on the transport runs
each statement on its own (what non-transactional migrations need), while
``transaction()`` wraps a block in BEGIN/COMMIT with ``conn.transaction()``.
``execute_batch`` sends whole transactions (migration files, each with its
bookkeeping) in one round trip (see ``dbmigrate.transport.BatchTransport``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.pq import TransactionStatus

from dbmigrate.errors import ConnectError, InvalidConnectionStringError, one_line
from dbmigrate.transport import Batched, BatchError, Executor, Params, Row, SqlValue

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
"""``:name`` not preceded by a colon or word character, so ``x::text`` casts are left alone."""

_SCRIPT_SEPARATOR = "\n;\n"
"""Between two statements, on a line of its own: a statement ending in a ``-- comment``
would swallow a semicolon appended to its last line."""

_ISOLATION = "READ COMMITTED"
"""See ``_ConnectionExecutor.__init__``: the lock-then-read protocol needs it."""

RECEIPTS_SETTING = "dbmigrate.receipts"
"""Session setting where ``execute_batch`` collects its transactions' receipts."""

_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


@lru_cache(maxsize=64)
def to_pyformat(sql: str) -> str:
    """Rewrite ``:name`` placeholders as ``%(name)s`` and escape literal ``%`` for psycopg.

    Cached: only the engine's few bookkeeping statements have parameters, and they
    are sent once or twice per migration file.
    """
    return _PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))


def to_positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """Rewrite ``:name`` placeholders as ``$1``, ``$2``... for PREPARE; a repeated name
    keeps its number. Returns the text and the names in parameter order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


def redact_url(url: str) -> str:
    """The connection string without its password, safe to show in messages and logs."""
    if "://" not in url:
        return _CONNINFO_PASSWORD.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")
        userinfo = netloc[0].split(":", 1)[0]
        host = f"{userinfo}@{netloc[2]}" if netloc[1] else netloc[2]
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
        return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparseable database URL>"


def _plain(value: Any) -> SqlValue:
    """Keep the protocol's value types; anything richer (datetime, UUID, Decimal) as text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class _ConnectionExecutor:
    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._conn = conn
        # The engine reads the state in a statement after the one that waited for the
        # lock; only READ COMMITTED gives that statement a snapshot taken after the wait.
        # Asked for explicitly: a database may default to REPEATABLE READ.
        conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        # One cursor for every statement: results are fetched before execute returns,
        # so nothing is left on it, and a new cursor per statement was measurable.
        self._cursor = conn.cursor()
        self._literals = psycopg.ClientCursor(conn)
        # Statement text -> (name, parameter names) of its SQL-level prepared statement.
        self._prepared: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._use_prepared = True
        # Names each batch's receipts: this connection's own, then a count.
        self._batch_prefix = secrets.token_hex(8)
        self._batches = 0

    def execute(
        self, sql: str, params: Params | None = None, *, long_running: bool = False
    ) -> list[Row]:
        # A direct connection has no per-call limit, so long_running needs nothing here.
        del long_running
        cur = self._cursor
        if params is None:
            # No parameters: psycopg sends the text as it is (no % escaping, no rewriting).
            cur.execute(sql)
        else:
            cur.execute(to_pyformat(sql), dict(params))
        if cur.description is None:
            return []
        return [tuple(_plain(v) for v in row) for row in cur.fetchall()]

    def execute_batch(
        self, transactions: Sequence[Sequence[Batched]], *, receipt: str
    ) -> list[str]:
        """Every transaction, its own BEGIN ... COMMIT, in ONE query (see ``BatchTransport``).

        A query without parameters goes over the simple query protocol, which takes
        several statements, explicit transactions included (psycopg uses the extended
        protocol, one statement only, when there are parameters or a prepared
        statement: ``prepare=False`` rules the latter out). A statement with
        parameters is therefore PREPAREd once per session and sent as
        ``EXECUTE name(literals)``, the literals rendered by psycopg's client-side
        binding for this connection's settings: parsing and planning the engine's
        bookkeeping afresh for every file was most of its cost.
        """
        if self._conn.info.transaction_status != TransactionStatus.IDLE:
            raise RuntimeError("execute_batch opens its own transactions: one is already open")
        try:
            return self._run_batch(transactions, receipt)
        except BatchError as failed:
            gone = isinstance(failed.__cause__, psycopg.errors.InvalidSqlStatementName)
            if not (gone and self._use_prepared):
                raise
            committed = list(failed.receipts)
        # The prepared statement vanished: a migration ran DEALLOCATE (maybe in this very
        # batch), or a pooler moved us to another server session. What committed stays;
        # send the rest again with literals, and keep to literals from now on.
        self._use_prepared = False
        self._prepared.clear()
        try:
            return committed + self._run_batch(transactions[len(committed) :], receipt)
        except BatchError as again:
            raise BatchError([*committed, *again.receipts], again.__cause__ or again) from again

    def _run_batch(self, transactions: Sequence[Sequence[Batched]], receipt: str) -> list[str]:
        self._batches += 1
        token = f"{self._batch_prefix} {self._batches}"
        text = self._render(transactions, receipt, token)
        try:
            self._cursor.execute(text, prepare=False)
        except psycopg.Error as exc:
            self._roll_back_failed_batch()
            raise BatchError(self._read_receipts(token, exc), exc) from exc
        except BaseException:
            self._roll_back_failed_batch()
            raise
        return self._read_receipts(token, None)

    def _render(self, transactions: Sequence[Sequence[Batched]], receipt: str, token: str) -> str:
        """The query: per transaction BEGIN, its statements, its receipt appended, COMMIT.

        Receipts accumulate in a session setting: set with is_local false, each one
        is kept when its transaction commits and undone with it when it rolls back,
        so after a failure the setting still tells how many committed. Each batch
        starts it afresh with ``token``, unique to this connection and batch: a
        batch that committed nothing finds another token there (an earlier batch's,
        or behind a transaction pooler another client's), so no receipts of its own.
        """
        value = f"coalesce(({receipt})::text, '')"
        parts: list[str] = []
        for index, statements in enumerate(transactions):
            parts.append(f"BEGIN ISOLATION LEVEL {_ISOLATION}")
            parts.extend(self._render_statement(sql, params) for sql, params in statements)
            before = f"'{token}'" if index == 0 else f"current_setting('{RECEIPTS_SETTING}')"
            parts.append(
                f"SELECT set_config('{RECEIPTS_SETTING}', {before} || chr(10) || {value}, false)"
            )
            parts.append("COMMIT")
        return _SCRIPT_SEPARATOR.join(parts)

    def _render_statement(self, sql: str, params: Params | None) -> str:
        if params is None:
            return sql
        if self._use_prepared:
            return self._execute_prepared(sql, params)
        return self._literals.mogrify(to_pyformat(sql), params)

    def _read_receipts(self, token: str, failure: psycopg.Error | None) -> list[str]:
        """The receipts this batch left; if they cannot be read, the batch's own error."""
        try:
            rows = self.execute(f"SELECT current_setting('{RECEIPTS_SETTING}', true)")
        except psycopg.Error:
            if failure is None:
                raise
            raise failure from None
        lines = str(rows[0][0] or "").split("\n") if rows else []
        return lines[1:] if lines and lines[0] == token else []

    def _execute_prepared(self, sql: str, params: Params) -> str:
        """``EXECUTE`` of ``sql``'s prepared statement with ``params`` as literals.

        A statement that cannot be prepared yet (its table is created by the same
        batch) is sent with its literals inlined instead, and prepared next time.
        """
        found = self._prepared.get(sql)
        if found is None:
            name = f"dbmigrate_{len(self._prepared) + 1}"
            text, names = to_positional(sql)
            try:
                self._cursor.execute(f"PREPARE {name} AS {text}", prepare=False)
            except psycopg.Error:
                # It refers to something the batch itself creates: inline the literals.
                return self._literals.mogrify(to_pyformat(sql), params)
            found = self._prepared[sql] = (name, names)
        name, names = found
        if not names:
            return f"EXECUTE {name}"
        placeholders = ", ".join(["%s"] * len(names))
        return self._literals.mogrify(f"EXECUTE {name}({placeholders})", [params[n] for n in names])

    def _roll_back_failed_batch(self) -> None:
        """After a failure inside the batch the session sits in an aborted transaction."""
        if self._conn.info.transaction_status == TransactionStatus.IDLE:
            return
        # If the connection itself is gone, the caller gets the original error.
        with suppress(psycopg.Error):
            self._cursor.execute("ROLLBACK")


class PsycopgTransport(_ConnectionExecutor):
    """A ``Transport`` owning one autocommit psycopg connection (a ``SessionTransport``)."""

    keeps_session = True

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

    def __enter__(self) -> PsycopgTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
