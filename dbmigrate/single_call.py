"""A transactional file in ONE call: a ``DO`` block that is the whole file's transaction.

Over the Data API each call costs tens of milliseconds, and the way with a call
per statement (BEGIN, lock, read, each statement, write, COMMIT) cost five calls
plus one per statement for every file. Here one autocommit call runs a PL/pgSQL
block that takes the locks and timeouts and checks the recorded state (the
batch guard's code), runs each statement with ``EXECUTE``, and writes the state
and history. It is one transaction: a failing statement leaves nothing behind.
The failing statement's number comes back in the error's message, so the error
names it as the other ways do.

What goes the other way, a statement per call, logged with the reason:

* a file whose block would exceed the Data API's 65,536-character ``sql``;
* a file with a statement PL/pgSQL's ``EXECUTE`` does not implement (``SELECT ...
  INTO`` a new table, ``COPY`` to the client): the block fails with SQLSTATE
  0A000 before anything of it stays, and the file is sent again;
* every file when ``statement_timeout`` is set below the 40 s default: it bounds
  each top-level statement, and inside the block there is only one.

The service's 45 s cut applies to the whole call here, not to each statement,
and ``statement_timeout`` set inside a running statement does not bound it. A
call that is cut is cancelled by the service with its transaction, so nothing
of the file stays; the stepper reads the state again under the lock to be sure,
and then sends that file a statement at a time, each under the 40 s limit.

Every dollar-quote tag is chosen so that its text without the closing ``$``
occurs nowhere in what it encloses: a text ending in ``$s_3`` (``$`` is allowed
in identifiers) would otherwise close ``$s_3$`` early.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dbmigrate.errors import StatementError, db_error_text, excerpt
from dbmigrate.locks import Limits
from dbmigrate.model import Script
from dbmigrate.planning import Step, show
from dbmigrate.state import HistoryRow, VersionState, guard_parts, write_state_sql
from dbmigrate.transport import SqlValue

MAX_SQL_CHARS = 65_536
"""The Data API's limit on an ExecuteStatement's ``sql``."""

_FAILED_AT = re.compile(r"dbmigrate statement (\d+): ")
NOT_IMPLEMENTED_SQLSTATE = "0A000"
"""feature_not_supported: what PL/pgSQL's EXECUTE answers for SELECT INTO, COPY to the client."""
MIN_STATEMENT_TIMEOUT_MS = 40_000
"""A configured statement_timeout below this is honoured by sending a statement per call."""
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_KINDS = {
    "version": "bigint",
    "dirty": "boolean",
    "h_version": "bigint",
    "h_name": "text",
    "h_direction": "text",
    "h_checksum": "text",
    "h_applied_by": "text",
    "h_duration_ms": "bigint",
}


def fits(limits: Limits) -> bool:
    """Whether these limits allow files in one call (see the module's docstring)."""
    timeout = limits.statement_timeout_ms
    return timeout == 0 or timeout >= MIN_STATEMENT_TIMEOUT_MS


def file_sql(
    limits: Limits, script: Script, step: Step, expected: VersionState, record: HistoryRow
) -> str | None:
    """The block applying ``step`` from ``expected``; None when it would be too long."""
    state_sql, params = write_state_sql(step.version_after, dirty=False, record=record)
    guard_declarations, guard_statements = guard_parts(limits, expected)
    tags = _Tags([s.sql for s in script.statements] + [str(v) for v in params.values()])
    write = _PLACEHOLDER.sub(r"p_\1", state_sql)
    statements = "".join(
        f"\n        current_statement := {number};\n        EXECUTE {tags.quote(s.sql)};"
        for number, s in enumerate(script.statements, start=1)
    )
    body = (
        f"\nDECLARE{guard_declarations}{_bookkeeping(params, tags)}"
        "\n    current_statement int := 0;"
        "\n    failed_state text;\n    failed_message text;"
        "\n    failed_detail text;\n    failed_hint text;"
        f"\nBEGIN{guard_statements}\n    BEGIN{statements}"
        "\n    EXCEPTION WHEN OTHERS THEN"
        "\n        GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE,"
        "\n            failed_message = MESSAGE_TEXT, failed_detail = PG_EXCEPTION_DETAIL,"
        "\n            failed_hint = PG_EXCEPTION_HINT;"
        "\n        RAISE EXCEPTION 'dbmigrate statement %: %', current_statement, failed_message"
        "\n            USING ERRCODE = failed_state, DETAIL = failed_detail, HINT = failed_hint;"
        f"\n    END;\n    {write};\nEND\n"
    )
    outer = _Tags([body]).new("dbmigrate")
    sql = f"DO {outer}{body}{outer}"
    return sql if len(sql) <= MAX_SQL_CHARS else None


def located_error(exc: Exception, script: Script, before: int | None) -> StatementError:
    """The error for a block that failed: its statement, as a statement-per-call run says it."""
    text = db_error_text(exc)
    found = _FAILED_AT.search(text)
    tail = f"nothing from this file was applied, the database is still at version {show(before)}"
    if found is None or not 1 <= int(found.group(1)) <= len(script.statements):
        error = StatementError(f"{script.path}: failed: {text}; {tail}")
    else:
        statement = script.statements[int(found.group(1)) - 1]
        message = text[: found.start()] + text[found.end() :]
        error = StatementError(
            f"{script.path} line {statement.line}: statement `{excerpt(statement.sql)}` "
            f"failed: {message.removeprefix('ERROR: ')}; {tail}"
        )
    error.__cause__ = exc
    return error


def _bookkeeping(params: Mapping[str, SqlValue], tags: _Tags) -> str:
    """The state and history values as constants, bound before any statement of the file
    runs: a file that changes how SQL is read (standard_conforming_strings) cannot
    change how they are read."""
    return "".join(
        f"\n    p_{name} constant {_KINDS[name]} := {_literal(value, tags)};"
        for name, value in params.items()
    )


def _literal(value: SqlValue, tags: _Tags) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return tags.quote(str(value))


class _Tags:
    """Dollar-quote tags that occur in none of the texts they will enclose."""

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._count = 0

    def new(self, stem: str) -> str:
        while True:
            self._count += 1
            tag = f"${stem}_{self._count}$"
            opening = tag[:-1]  # a text ending in it would close the quote early
            if not any(opening in text for text in self._texts):
                return tag

    def quote(self, text: str) -> str:
        tag = self.new("s")
        return f"{tag}{text}{tag}"
