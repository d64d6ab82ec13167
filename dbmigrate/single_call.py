"""A transactional file in ONE call: a ``DO`` block that is the whole file's transaction.

Over the Data API each call costs tens of milliseconds, and the way with a call
per statement (BEGIN, lock, read, each statement, write, COMMIT) cost five calls
plus one per statement for every file. Here one autocommit call runs a PL/pgSQL
block that takes the locks and timeouts and checks the recorded state (the
batch guard's code), runs each statement with ``EXECUTE``, and writes the state
and history. It is one transaction: a failing statement leaves nothing behind.
The failing statement's number comes back in the error's message, so the error
names it as the other ways do.

What goes the other way, a statement per call (``unfit_reason`` says why):

* a ``COPY`` statement, which PL/pgSQL's ``EXECUTE`` refuses;
* a file whose block would exceed the Data API's 65,536-character ``sql``.

The service's 45 s cut applies to the whole call here, not to each statement,
and ``statement_timeout`` set inside a running statement does not bound it. A
call that is cut is cancelled by the service with its transaction, so nothing
of the file stays; the stepper reads the state again under the lock to be sure,
and then sends that file a statement at a time, each under the 40 s limit.
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
_NOT_IN_PLPGSQL = re.compile(r"COPY\b", re.IGNORECASE)
"""PL/pgSQL's EXECUTE refuses COPY to or from the client; transaction control, which it
refuses too, never reaches here (the compiler refuses it in every file)."""
_LEADING_COMMENTS = re.compile(r"(\s+|--[^\n]*(\n|$)|/\*.*?\*/)*", re.DOTALL)
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


def unfit_reason(script: Script) -> str | None:
    """Why this file must go a statement per call, or None."""
    for number, statement in enumerate(script.statements, start=1):
        comments = _LEADING_COMMENTS.match(statement.sql)
        head = statement.sql[comments.end() if comments else 0 :]
        if _NOT_IN_PLPGSQL.match(head):
            return f"statement {number} ({excerpt(head)[:40]}) cannot run inside PL/pgSQL"
    return None


def file_sql(
    limits: Limits, script: Script, step: Step, expected: VersionState, record: HistoryRow
) -> str | None:
    """The block applying ``step`` from ``expected``; None when it would be too long."""
    state_sql, params = write_state_sql(step.version_after, dirty=False, record=record)
    guard_declarations, guard_statements = guard_parts(limits, expected)
    texts = [s.sql for s in script.statements] + [str(v) for v in params.values()]
    tags = _Tags(texts)
    outer = tags.new("dbmigrate")
    write = _PLACEHOLDER.sub(r"p_\1", state_sql)
    statements = "".join(
        f"\n        current_statement := {number};\n        EXECUTE {tags.quote(s.sql)};"
        for number, s in enumerate(script.statements, start=1)
    )
    sql = (
        f"DO {outer}\nDECLARE{guard_declarations}{_bookkeeping(params, tags)}"
        "\n    current_statement int := 0;\n    failed_state text;\n    failed_message text;"
        f"\nBEGIN{guard_statements}\n    BEGIN{statements}"
        "\n    EXCEPTION WHEN OTHERS THEN"
        "\n        GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE,"
        " failed_message = MESSAGE_TEXT;"
        "\n        RAISE EXCEPTION 'dbmigrate statement %: %', current_statement, failed_message"
        "\n            USING ERRCODE = failed_state;"
        f"\n    END;\n    {write};\nEND\n{outer}"
    )
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
            if not any(tag in text for text in self._texts):
                return tag

    def quote(self, text: str) -> str:
        tag = self.new("s")
        return f"{tag}{text}{tag}"
