"""What the two libpq transports share: one session, ``:name`` placeholders, batches.

``psycopg_transport`` (psycopg 3: the library, the tests, ``ops access``) and
``psycopg2_transport`` (psycopg2: the ``ops migrate`` CLI, for its start-up
time) send the same SQL the same way; each supplies only its driver's calls
(`SessionExecutor`'s abstract methods). This module imports neither driver.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dbmigrate.transport import Batched, BatchError, Params, Row, SqlValue

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
"""``:name`` not preceded by a colon or word character, so ``x::text`` casts are left alone."""

_SCRIPT_SEPARATOR = "\n;\n"
"""Between two statements, on a line of its own: a statement ending in a ``-- comment``
would swallow a semicolon appended to its last line."""

ISOLATION = "READ COMMITTED"
"""The engine reads the state in a statement after the one that waited for the lock; only
READ COMMITTED gives that statement a snapshot taken after the wait. Asked for explicitly:
a database may default to REPEATABLE READ."""

RECEIPTS_SETTING = "dbmigrate.receipts"
"""Session setting where ``execute_batch`` collects its transactions' receipts."""

_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


@lru_cache(maxsize=64)
def to_pyformat(sql: str) -> str:
    """Rewrite ``:name`` placeholders as ``%(name)s`` and escape literal ``%`` for the driver.

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


def plain(value: Any) -> SqlValue:
    """Keep the protocol's value types; anything richer (datetime, UUID, Decimal) as text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class SessionExecutor(ABC):
    """Statements on one autocommit connection; batches of whole transactions in one query."""

    keeps_session = True
    cancels_on_interrupt = True
    """Ctrl-C cancels the running statement on the server (both drivers do; the Data API
    cannot): ``dbmigrate.no_transaction`` forgets such a statement's record then."""

    def __init__(self) -> None:
        # Statement text -> (name, parameter names) of its SQL-level prepared statement.
        self._prepared: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._use_prepared = True
        # Names each batch's receipts: this connection's own, then a count. (What
        # secrets.token_hex does, without importing secrets' random and hmac: 3 ms.)
        self._batch_prefix = os.urandom(8).hex()
        self._batches = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the driver's part ---------------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @abstractmethod
    def _query(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]] | None:
        """Send ``sql`` (with ``%(name)s`` params, or as it is without), return its rows or
        None when it returns none. Without params it goes over the simple query protocol."""

    @abstractmethod
    def _mogrify(self, sql: str, params: Params | Sequence[SqlValue]) -> str:
        """``sql`` with its ``%s`` / ``%(name)s`` parameters inlined as literals."""

    @abstractmethod
    def _idle(self) -> bool:
        """No transaction is open on the session."""

    @abstractmethod
    def _is_driver_error(self, exc: BaseException) -> bool:
        """The driver's own error (the server's, or the connection's)."""

    @abstractmethod
    def _statement_name_gone(self, exc: BaseException) -> bool:
        """SQLSTATE 26000: a prepared statement this session made is not there."""

    # -- the Executor ------------------------------------------------------------------

    def execute(
        self, sql: str, params: Params | None = None, *, long_running: bool = False
    ) -> list[Row]:
        # A direct connection has no per-call limit, so long_running needs nothing here.
        del long_running
        rows = self._query(sql) if params is None else self._query(to_pyformat(sql), params)
        if rows is None:
            return []
        return [tuple(plain(v) for v in row) for row in rows]

    def execute_batch(
        self, transactions: Sequence[Sequence[Batched]], *, receipt: str
    ) -> list[str]:
        """Every transaction, its own BEGIN ... COMMIT, in ONE query (see ``BatchTransport``).

        A query without parameters goes over the simple query protocol, which takes
        several statements, explicit transactions included. A statement with
        parameters is therefore PREPAREd once per session and sent as
        ``EXECUTE name(literals)``, the literals rendered by the driver's
        client-side binding for this connection's settings: parsing and planning
        the engine's bookkeeping afresh for every file was most of its cost.
        """
        if not self._idle():
            raise RuntimeError("execute_batch opens its own transactions: one is already open")
        try:
            return self._run_batch(transactions, receipt)
        except BatchError as failed:
            gone = self._statement_name_gone(failed.__cause__ or failed)
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
            self._query(text)
        except BaseException as exc:
            self._roll_back_failed_batch()
            if not self._is_driver_error(exc):
                raise
            raise BatchError(self._read_receipts(token, exc), exc) from exc
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
            parts.append(f"BEGIN ISOLATION LEVEL {ISOLATION}")
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
        return self._mogrify(to_pyformat(sql), params)

    def _read_receipts(self, token: str, failure: BaseException | None) -> list[str]:
        """The receipts this batch left; if they cannot be read, the batch's own error."""
        try:
            rows = self.execute(f"SELECT current_setting('{RECEIPTS_SETTING}', true)")
        except Exception as exc:
            if failure is None or not self._is_driver_error(exc):
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
                self._query(f"PREPARE {name} AS {text}")
            except Exception as exc:
                if not self._is_driver_error(exc):
                    raise
                # It refers to something the batch itself creates: inline the literals.
                return self._mogrify(to_pyformat(sql), params)
            found = self._prepared[sql] = (name, names)
        name, names = found
        if not names:
            return f"EXECUTE {name}"
        placeholders = ", ".join(["%s"] * len(names))
        return self._mogrify(f"EXECUTE {name}({placeholders})", [params[n] for n in names])

    def _roll_back_failed_batch(self) -> None:
        """After a failure inside the batch the session sits in an aborted transaction."""
        if self._idle():
            return
        # If the connection itself is gone, the caller gets the original error.
        try:
            self._query("ROLLBACK")
        except Exception as exc:
            if not self._is_driver_error(exc):
                raise
