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

import enum
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pglast
from pglast import ast
from pglast.parser import ParseError, parse_sql_json

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

Node = dict[str, Any]
"""A parse-tree node as libpg_query's JSON has it: ``{"IndexStmt": {...fields}}``."""


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
        if "TransactionStmt" in stmt:
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


def _parse(text: str, path: str) -> list[tuple[Node, str, int]]:
    """(parse tree, statement text, 1-based line) for each statement of the file.

    libpg_query's JSON tree is used rather than pglast's Python AST: building
    AST objects cost most of the compile time, and the rules below need only a
    few fields near each statement's root.
    """
    try:
        document = parse_sql_json(text)
    except ParseError as exc:
        message, position = exc.args[0], exc.args[1] if len(exc.args) > 1 else None
        offset = position if isinstance(position, int) else len(text.rstrip())
        line = text.count("\n", 0, min(offset, len(text))) + 1
        raise CompileError(f"{path} line {line}: {message}") from exc
    try:
        tree = json.loads(document)
    except RecursionError:
        return _parse_deep(text)
    return _statements_from_json(tree, text)


def _statements_from_json(tree: Node, text: str) -> list[tuple[Node, str, int]]:
    """Cut the statements out of the file as the JSON tree locates them.

    ``stmt_location``/``stmt_len`` are offsets into the UTF-8 bytes, left out
    when 0 (a 0 length means "to the end"): statements are cut from the bytes
    and decoded, never sliced from the str.
    """
    utf8 = text.encode("utf-8")
    result = []
    for raw in tree.get("stmts", ()):
        if raw.get("stmt") is None:
            continue
        start = raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0)
        end = start + length if length else len(utf8)
        sql = utf8[start:end].decode("utf-8").strip()
        result.append((raw["stmt"], sql, utf8.count(b"\n", 0, start) + 1))
    return result


def _parse_deep(text: str) -> list[tuple[Node, str, int]]:
    """The fallback for a statement nested deeper than ``json.loads`` can recurse.

    (``SELECT 1 + 1 + ...`` a few thousand times.) pglast's own AST copes; its
    offsets are already str indexes, and each statement's top levels are put in
    the JSON tree's shape so that the same rules apply.
    """
    result = []
    for raw in pglast.parse_sql(text):
        if raw.stmt is None:
            continue
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(text)
        line = text.count("\n", 0, start) + 1
        result.append((_shallow(raw.stmt, _RULE_DEPTH), text[start:end].strip(), line))
    return result


_RULE_DEPTH = 6
"""How far below a statement's root the rules look (AlterTableStmt.cmds[].def.concurrent)."""


def _shallow(value: Any, depth: int) -> Any:
    """A pglast AST value in libpg_query's JSON shape, ``depth`` levels down.

    Nodes become ``{"Type": {fields}}`` without None/False fields, tuples lists,
    enums their names; the trailing ``_`` of Python-keyword fields (``def_``) goes.
    """
    if isinstance(value, ast.Node):
        fields: Node = {}
        for name in value if depth > 0 else ():
            field = getattr(value, name)
            if field is not None and field is not False:
                fields[name.rstrip("_")] = _shallow(field, depth - 1)
        return {type(value).__name__: fields}
    if isinstance(value, tuple):
        return [_shallow(item, depth - 1) for item in value] if depth > 0 else []
    if isinstance(value, enum.Enum):
        return value.name
    return value


def _first_word(sql: str) -> str:
    return sql.split(None, 1)[0].upper() if sql.split() else ""


def _has_option(options: list[Node] | None, name: str) -> bool:
    return any(o.get("DefElem", {}).get("defname") == name for o in options or ())


def _detaches_concurrently(stmt: Node) -> bool:
    return any(
        bool(cmd.get("AlterTableCmd", {}).get("def", {}).get("PartitionCmd", {}).get("concurrent"))
        for cmd in stmt.get("cmds", ())
    )


_WHOLE_DATABASE_REINDEX = ("REINDEX_OBJECT_SYSTEM", "REINDEX_OBJECT_DATABASE")

# (node type, does this statement need autocommit?, what to call it in messages);
# fields are the JSON tree's: false, empty and null fields are left out of it.
_NON_TRANSACTIONAL_RULES: tuple[tuple[str, Callable[[Node], bool], str], ...] = (
    ("IndexStmt", lambda s: bool(s.get("concurrent")), "CREATE INDEX CONCURRENTLY"),
    ("DropStmt", lambda s: bool(s.get("concurrent")), "DROP INDEX CONCURRENTLY"),
    (
        "ReindexStmt",
        lambda s: _has_option(s.get("params"), "concurrently"),
        "REINDEX CONCURRENTLY",
    ),
    (
        "ReindexStmt",
        lambda s: s.get("kind") in _WHOLE_DATABASE_REINDEX,
        "REINDEX SYSTEM/DATABASE",
    ),
    ("VacuumStmt", lambda s: bool(s.get("is_vacuumcmd")), "VACUUM"),
    ("ClusterStmt", lambda s: s.get("relation") is None, "CLUSTER without a table"),
    ("CreatedbStmt", lambda s: True, "CREATE DATABASE"),
    ("DropdbStmt", lambda s: True, "DROP DATABASE"),
    ("AlterSystemStmt", lambda s: True, "ALTER SYSTEM"),
    ("CreateTableSpaceStmt", lambda s: True, "CREATE TABLESPACE"),
    ("DropTableSpaceStmt", lambda s: True, "DROP TABLESPACE"),
    (
        "AlterDatabaseStmt",
        lambda s: _has_option(s.get("options"), "tablespace"),
        "ALTER DATABASE ... SET TABLESPACE",
    ),
    ("AlterTableStmt", _detaches_concurrently, "DETACH PARTITION CONCURRENTLY"),
)


def non_transactional_reason(stmt: Node) -> str | None:
    """Why PostgreSQL would refuse ``stmt`` inside a transaction block, or None if it would not.

    Read from the parse tree (a statement node of libpg_query's JSON), so a
    keyword inside a string, comment or function body never counts.
    """
    for node_type, applies, reason in _NON_TRANSACTIONAL_RULES:
        fields = stmt.get(node_type)
        if fields is not None and applies(fields):
            return reason
    return None
