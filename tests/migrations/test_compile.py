"""Splitting files with PostgreSQL's parser and enforcing the transaction rules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from dbmigrate.compile import compile_directory, compile_script
from dbmigrate.errors import CompileError
from tests.migrations._helpers import MIGRATIONS, write

HEADER = "-- migrate:no-transaction\n"


def test_repository_migrations_compile_with_lines_and_checksums() -> None:
    bundle = compile_directory(MIGRATIONS)
    users = bundle.migrations[0].up
    assert users.transactional
    assert [s.line for s in users.statements] == [2, 18, 19, 20]
    assert users.statements[0].sql.startswith("CREATE TABLE IF NOT EXISTS users")
    assert not users.statements[0].sql.endswith(";")
    raw = (MIGRATIONS / "000001_create_users_table.up.sql").read_bytes()
    assert users.checksum == hashlib.sha256(raw).hexdigest()
    assert users.path == "000001_create_users_table.up.sql"


def test_dollar_quoted_body_stays_one_statement() -> None:
    trigger = compile_directory(MIGRATIONS).migrations[1].up
    assert len(trigger.statements) == 2
    function = trigger.statements[0]
    assert function.line == 2
    assert "NEW.updated_at = NOW();" in function.sql and "RETURN NEW;" in function.sql
    assert trigger.statements[1].sql.startswith("CREATE TRIGGER update_users_updated_at")


def test_syntax_error_names_file_and_line() -> None:
    text = "CREATE TABLE a (id int);\n\n-- comment\nCREATE TABEL b (id int);\n"
    with pytest.raises(CompileError) as caught:
        compile_script(text.encode(), "000007_bad.up.sql")
    assert str(caught.value).startswith("000007_bad.up.sql line 4: syntax error")
    assert 'near "TABEL"' in str(caught.value)


def test_syntax_error_at_end_of_input_points_at_last_line() -> None:
    with pytest.raises(CompileError, match=r"x\.up\.sql line 3: syntax error at end"):
        compile_script(b"SELECT 1;\nSELECT (1\n  + 2\n", "x.up.sql")


def test_line_numbers_count_characters_not_bytes() -> None:
    text = "-- h\u00e9llo w\u00f6rld \u2603\nSELECT '\u00e9';\nCREATE TABEL x ();\n"
    with pytest.raises(CompileError, match=r"line 3"):
        compile_script(text.encode(), "u.up.sql")


NON_TRANSACTIONAL = [
    "CREATE INDEX CONCURRENTLY i ON t (x)",
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (x)",
    "DROP INDEX CONCURRENTLY IF EXISTS i",
    "REINDEX INDEX CONCURRENTLY i",
    "REINDEX (CONCURRENTLY) TABLE t",
    "REINDEX DATABASE d",
    "VACUUM t",
    "VACUUM (ANALYZE) t",
    "CLUSTER",
    "CREATE DATABASE d",
    "DROP DATABASE IF EXISTS d",
    "ALTER SYSTEM SET work_mem = '8MB'",
    "CREATE TABLESPACE s LOCATION '/nowhere'",
    "DROP TABLESPACE IF EXISTS s",
    "ALTER DATABASE d SET TABLESPACE s",
    "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
]

TRANSACTIONAL = [
    "CREATE INDEX i ON t (x)",
    "DROP INDEX IF EXISTS i",
    "REINDEX INDEX i",
    "ANALYZE t",
    "CLUSTER t USING i",
    "ALTER TABLE p DETACH PARTITION c",
    "SELECT 'CREATE INDEX CONCURRENTLY i ON t (x)'",
    "-- VACUUM t\nSELECT 1",
    "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT 'VACUUM' $$",
]


@pytest.mark.parametrize("statement", NON_TRANSACTIONAL)
def test_non_transactional_statement_without_header_is_an_error(statement: str) -> None:
    text = f"SELECT 1;\n{statement};\n"
    with pytest.raises(CompileError) as caught:
        compile_script(text.encode(), "000003_idx.up.sql")
    message = str(caught.value)
    assert message.startswith("000003_idx.up.sql line 2: ")
    assert "cannot run inside a transaction" in message
    assert "-- migrate:no-transaction" in message


@pytest.mark.parametrize("statement", NON_TRANSACTIONAL)
def test_non_transactional_statement_with_header_compiles(statement: str) -> None:
    script = compile_script(f"{HEADER}{statement};\n".encode(), "x.up.sql")
    assert script.transactional is False
    assert [s.line for s in script.statements] == [2]


@pytest.mark.parametrize("statement", TRANSACTIONAL)
def test_transactional_statements_are_not_flagged(statement: str) -> None:
    assert compile_script(f"{statement};\n".encode(), "x.up.sql").transactional


def test_mixed_no_transaction_file_is_an_error() -> None:
    text = f"{HEADER}CREATE INDEX CONCURRENTLY i ON t (x);\nCREATE TABLE u (id int);\n"
    with pytest.raises(CompileError) as caught:
        compile_script(text.encode(), "000005_mixed.up.sql")
    assert str(caught.value).startswith("000005_mixed.up.sql line 3: ")
    assert "mixing the two kinds" in str(caught.value)


def test_header_must_be_the_first_line() -> None:
    text = f"-- index for lookups\n{HEADER}CREATE INDEX CONCURRENTLY i ON t (x);\n"
    with pytest.raises(CompileError, match=r"line 2: unrecognised or misplaced 'migrate:'"):
        compile_script(text.encode(), "x.up.sql")


def test_misspelt_header_is_an_error() -> None:
    with pytest.raises(CompileError, match="line 1: unrecognised or misplaced"):
        compile_script(b"-- migrate:no-transactions\nSELECT 1;\n", "x.up.sql")


def test_transaction_control_is_an_error() -> None:
    with pytest.raises(CompileError, match=r"line 1: transaction control \(BEGIN\)"):
        compile_script(b"BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n", "x.up.sql")


def test_non_utf8_file_is_an_error() -> None:
    with pytest.raises(CompileError, match=r"x\.up\.sql: not UTF-8"):
        compile_script(b"SELECT '\xff';", "x.up.sql")


def test_empty_file_compiles_to_no_statements() -> None:
    script = compile_script(b"-- nothing yet\n", "x.up.sql")
    assert script.statements == () and script.transactional


def test_compile_directory_reports_the_bad_file(tmp_path: Path) -> None:
    write(tmp_path, "000001_ok.up.sql", "SELECT 1;")
    write(tmp_path, "000002_bad.up.sql", "SELECT 1;\nCREATE INDEX CONCURRENTLY i ON t (x);")
    with pytest.raises(CompileError, match=r"^000002_bad\.up\.sql line 2: CREATE INDEX CONC"):
        compile_directory(tmp_path)


PARTITIONS = (
    "CREATE TABLE p (x int) PARTITION BY RANGE (x);"
    "CREATE TABLE c PARTITION OF p FOR VALUES FROM (0) TO (10);"
    "CREATE TABLE t (x int); CREATE INDEX i ON t (x);"
)


@pytest.mark.parametrize("statement", NON_TRANSACTIONAL)
def test_postgresql_agrees_these_cannot_run_in_a_transaction(
    fresh_db_url: str, statement: str
) -> None:
    """The parse-tree rules must match what PostgreSQL itself refuses in a transaction block."""
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute(PARTITIONS)
        with pytest.raises(errors.ActiveSqlTransaction), conn.transaction():
            conn.execute(statement)


DEEP = "SELECT " + " + ".join(["1"] * 3000)  # nested deeper than json.loads recurses


@pytest.mark.parametrize("statement", NON_TRANSACTIONAL)
def test_rules_hold_in_a_file_too_deep_for_the_json_tree(statement: str) -> None:
    text = f"{DEEP};\n{statement};\n"
    with pytest.raises(
        CompileError, match=r"^x\.up\.sql line 2: .*cannot run inside a transaction"
    ):
        compile_script(text.encode(), "x.up.sql")


@pytest.mark.parametrize("statement", TRANSACTIONAL)
def test_deep_file_with_transactional_statements_compiles(statement: str) -> None:
    script = compile_script(f"-- \u00e9\n{DEEP};\n{statement};\n".encode(), "x.up.sql")
    assert script.transactional
    assert (script.statements[0].line, len(script.statements)) == (2, 2)
    assert script.statements[0].sql == DEEP


def test_statements_are_cut_at_byte_offsets_from_utf8_text() -> None:
    text = "-- h\u00e9llo \u2603\nSELECT '\u00e9\u00e9';\n\nSELECT 'x\u2603' AS y;\nSELECT 3"
    script = compile_script(text.encode(), "u.up.sql")
    assert [(s.sql, s.line) for s in script.statements] == [
        ("SELECT '\u00e9\u00e9'", 2),
        ("SELECT 'x\u2603' AS y", 4),
        ("SELECT 3", 5),
    ]
