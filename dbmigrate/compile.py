"""Compile a migrations directory into an immutable bundle, with PostgreSQL's own parser.

Splitting is done by pglast (libpg_query) because the Data API takes one
statement per call and dollar-quoted function bodies contain semicolons.
The same parse tree tells which statements PostgreSQL refuses to run inside a
transaction block; a file holding those must say so in its first line,
``-- migrate:no-transaction``, and hold nothing else, so that every other file
can run atomically in one transaction. Both rules fail here, at synth time or
on a laptop, instead of halfway through a deployment.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pglast
from pglast import ast, enums
from pglast.parser import ParseError

from dbmigrate.bundle import Bundle
from dbmigrate.errors import CompileError
from dbmigrate.model import Migration, Script, Statement
from dbmigrate.source import find_migrations

__all__ = [
    "NO_TRANSACTION_HEADER",
    "Bundle",
    "Migration",
    "Script",
    "Statement",
    "compile_directory",
    "compile_script",
    "non_transactional_reason",
]

NO_TRANSACTION_HEADER = "-- migrate:no-transaction"
_HEADER_RE = re.compile(r"^--\s*migrate:no-transaction\s*$")
_DIRECTIVE_RE = re.compile(r"^\s*--\s*migrate:", re.MULTILINE)


def compile_directory(directory: Path | str) -> Bundle:
    """Find, split and check every migration file; raise on the first problem."""
    migrations = []
    for source in find_migrations(directory):
        up = compile_script(source.up.read_bytes(), source.up.name)
        down = None
        if source.down is not None:
            down = compile_script(source.down.read_bytes(), source.down.name)
        migrations.append(Migration(source.version, source.name, up, down))
    return Bundle(tuple(migrations))


def compile_script(raw: bytes, path: str) -> Script:
    """Split one file's bytes into statements and decide how it must run."""
    checksum = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CompileError(
            f"{path}: not UTF-8 ({exc.reason} at byte {exc.start}); save the file as UTF-8"
        ) from exc
    text = text.removeprefix("\ufeff")
    no_transaction = _read_header(text, path)
    statements = []
    for stmt, sql, line in _parse(text, path):
        reason = non_transactional_reason(stmt)
        if isinstance(stmt, ast.TransactionStmt):
            raise CompileError(
                f"{path} line {line}: transaction control ({_first_word(sql)}) is not allowed; "
                "remove it: each file already runs in one transaction (or none, with "
                f"'{NO_TRANSACTION_HEADER}')"
            )
        if reason is not None and not no_transaction:
            raise CompileError(
                f"{path} line {line}: {reason} cannot run inside a transaction; move it to its "
                f"own migration file whose first line is '{NO_TRANSACTION_HEADER}'"
            )
        if reason is None and no_transaction:
            raise CompileError(
                f"{path} line {line}: this file is '{NO_TRANSACTION_HEADER}' but "
                f"'{_first_word(sql)} ...' can run in a transaction; mixing the two kinds in one "
                "file is not allowed: move it to a separate migration"
            )
        statements.append(Statement(sql, line))
    return Script(tuple(statements), not no_transaction, checksum, path)


def _read_header(text: str, path: str) -> bool:
    """True when the first line is the no-transaction header; reject misplaced directives."""
    first_line = text.split("\n", 1)[0].rstrip("\r")
    header = bool(_HEADER_RE.match(first_line))
    for match in _DIRECTIVE_RE.finditer(text):
        if header and match.start() == 0:
            continue
        line = text.count("\n", 0, match.start()) + 1
        raise CompileError(
            f"{path} line {line}: unrecognised or misplaced 'migrate:' directive; the only one is "
            f"'{NO_TRANSACTION_HEADER}', and it must be the file's first line"
        )
    return header


def _parse(text: str, path: str) -> list[tuple[ast.Node, str, int]]:
    """(parse tree, statement text, 1-based line) for each statement of the file."""
    try:
        raw_statements = pglast.parse_sql(text)
    except ParseError as exc:
        message, position = exc.args[0], exc.args[1] if len(exc.args) > 1 else None
        offset = position if isinstance(position, int) else len(text.rstrip())
        line = text.count("\n", 0, min(offset, len(text))) + 1
        raise CompileError(f"{path} line {line}: {message}") from exc
    result = []
    for raw in raw_statements:
        if raw.stmt is None:
            continue
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(text)
        sql = text[start:end].strip()
        line = text.count("\n", 0, start) + 1
        result.append((raw.stmt, sql, line))
    return result


def _first_word(sql: str) -> str:
    return sql.split(None, 1)[0].upper() if sql.split() else ""


def _has_option(options: tuple[ast.Node, ...] | None, name: str) -> bool:
    return any(isinstance(o, ast.DefElem) and o.defname == name for o in options or ())


def _detaches_concurrently(stmt: ast.AlterTableStmt) -> bool:
    return any(
        isinstance(cmd, ast.AlterTableCmd)
        and isinstance(cmd.def_, ast.PartitionCmd)
        and bool(cmd.def_.concurrent)
        for cmd in stmt.cmds or ()
    )


_WHOLE_DATABASE_REINDEX = (
    enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
    enums.ReindexObjectType.REINDEX_OBJECT_DATABASE,
)

# (node type, does this statement need autocommit?, what to call it in messages)
_NON_TRANSACTIONAL_RULES: tuple[tuple[type[Any], Callable[[Any], bool], str], ...] = (
    (ast.IndexStmt, lambda s: bool(s.concurrent), "CREATE INDEX CONCURRENTLY"),
    (ast.DropStmt, lambda s: bool(s.concurrent), "DROP INDEX CONCURRENTLY"),
    (ast.ReindexStmt, lambda s: _has_option(s.params, "concurrently"), "REINDEX CONCURRENTLY"),
    (ast.ReindexStmt, lambda s: s.kind in _WHOLE_DATABASE_REINDEX, "REINDEX SYSTEM/DATABASE"),
    (ast.VacuumStmt, lambda s: bool(s.is_vacuumcmd), "VACUUM"),
    (ast.ClusterStmt, lambda s: s.relation is None, "CLUSTER without a table"),
    (ast.CreatedbStmt, lambda s: True, "CREATE DATABASE"),
    (ast.DropdbStmt, lambda s: True, "DROP DATABASE"),
    (ast.AlterSystemStmt, lambda s: True, "ALTER SYSTEM"),
    (ast.CreateTableSpaceStmt, lambda s: True, "CREATE TABLESPACE"),
    (ast.DropTableSpaceStmt, lambda s: True, "DROP TABLESPACE"),
    (
        ast.AlterDatabaseStmt,
        lambda s: _has_option(s.options, "tablespace"),
        "ALTER DATABASE ... SET TABLESPACE",
    ),
    (ast.AlterTableStmt, _detaches_concurrently, "DETACH PARTITION CONCURRENTLY"),
)


def non_transactional_reason(stmt: ast.Node) -> str | None:
    """Why PostgreSQL would refuse ``stmt`` inside a transaction block, or None if it would not.

    Read from the parse tree, so a keyword inside a string, comment or function
    body never counts.
    """
    for node_type, applies, reason in _NON_TRANSACTIONAL_RULES:
        if isinstance(stmt, node_type) and applies(stmt):
            return reason
    return None
