"""One round trip per transactional file on psycopg, with the same errors and guarantees."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbmigrate.compile import compile_directory
from dbmigrate.engine import Engine, EngineConfig
from dbmigrate.errors import DirtyDatabaseError, StatementError
from dbmigrate.transport import Params, Row, ScriptExecutor
from dbmigrate.transports import data_api
from dbmigrate.transports.psycopg_transport import PsycopgTransport
from tests.migrations._helpers import history, query, state, tables, write

NO_TX = "-- migrate:no-transaction\n"


class CountingTransport(PsycopgTransport):
    """Records every round trip the engine asks for: ("execute" | "script", text)."""

    sent: list[tuple[str, str]]
    fail_after_script: bool = False

    def execute(
        self, sql: str, params: Params | None = None, *, long_running: bool = False
    ) -> list[Row]:
        self.sent.append(("execute", sql))
        return super().execute(sql, params, long_running=long_running)

    def execute_script(self, statements: Sequence[str]) -> None:
        self.sent.append(("script", "\n".join(statements)))
        super().execute_script(statements)
        if self.fail_after_script:
            # A failure that does not come back when the file is re-run (timing, a lock).
            raise psycopg.errors.SerializationFailure("simulated transient failure")


def run_up(url: str, directory: Path, **config: Any) -> tuple[CountingTransport, Engine]:
    transport = CountingTransport(psycopg.connect(url, autocommit=True))
    transport.sent = []
    return transport, Engine(transport, compile_directory(directory), config=EngineConfig(**config))


def sent_with(transport: CountingTransport, fragment: str) -> list[str]:
    """How each round trip carrying ``fragment`` was sent."""
    return [kind for kind, text in transport.sent if fragment in text]


def test_a_transactional_file_is_one_round_trip(tmp_path: Path, fresh_db_url: str) -> None:
    write(
        tmp_path,
        "000001_three.up.sql",
        "CREATE TABLE t1 (id int);\nCREATE INDEX t1_id ON t1 (id);\nINSERT INTO t1 VALUES (7);\n",
    )
    write(tmp_path, "000002_one.up.sql", "CREATE TABLE t2 (id int);\n")
    transport, engine = run_up(fresh_db_url, tmp_path)
    with transport:
        assert engine.up().applied_versions == (1, 2)
    assert sent_with(transport, "t1") == ["script"]  # all three statements in one query
    assert sent_with(transport, "t2") == ["execute"]  # a single statement goes as it is
    assert query(fresh_db_url, "SELECT id FROM t1") == [(7,)]
    assert state(fresh_db_url) == [(2, False)]


def test_failure_inside_a_batch_names_its_statement(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(
        tmp_path,
        "000002_b.up.sql",
        "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n\n"
        "INSERT INTO b VALUES ('not a number');\nCREATE TABLE c (id int);\n",
    )
    transport, engine = run_up(fresh_db_url, tmp_path)
    with transport, pytest.raises(StatementError) as caught:
        engine.up()
    message = str(caught.value)
    assert not isinstance(caught.value, DirtyDatabaseError)
    assert message.startswith(
        "000002_b.up.sql line 4: statement `INSERT INTO b VALUES ('not a number')` failed: "
        'invalid input syntax for type integer: "not a number"'
    )
    assert "22P02" in message
    assert message.endswith(
        "nothing from this file was applied, the database is still at version 1"
    )
    assert isinstance(caught.value.__cause__, psycopg.errors.InvalidTextRepresentation)
    # Sent once as a whole, then statement by statement up to the failing one to find it.
    assert sent_with(transport, "CREATE TABLE b") == ["script", "execute"]
    assert sent_with(transport, "CREATE TABLE c") == ["script"]
    assert tables(fresh_db_url) == {"a", "schema_migrations", "schema_migrations_history"}
    assert state(fresh_db_url) == [(1, False)]
    assert [h[0] for h in history(fresh_db_url)] == [1]


def test_a_failure_the_rerun_does_not_repeat_names_the_file(
    tmp_path: Path, fresh_db_url: str
) -> None:
    write(tmp_path, "000001_x.up.sql", "CREATE TABLE x (id int);\nINSERT INTO x VALUES (1);\n")
    transport, engine = run_up(fresh_db_url, tmp_path)
    transport.fail_after_script = True
    with transport, pytest.raises(StatementError) as caught:
        engine.up()
    assert str(caught.value) == (
        "000001_x.up.sql: failed: simulated transient failure (SQLSTATE 40001); nothing from "
        "this file was applied, the database is still at version none"
    )
    assert isinstance(caught.value.__cause__, psycopg.errors.SerializationFailure)
    # The re-run ran every statement without error and was rolled back all the same.
    assert sent_with(transport, "INSERT INTO x") == ["script", "execute"]
    assert tables(fresh_db_url) == {"schema_migrations", "schema_migrations_history"}
    assert state(fresh_db_url) == []
    assert history(fresh_db_url) == []


def test_statement_timeout_applies_to_each_statement_of_a_batch(
    tmp_path: Path, fresh_db_url: str
) -> None:
    # Together 0.9 s, over the 500 ms limit; each statement is under it.
    write(
        tmp_path,
        "000001_slow.up.sql",
        "SELECT pg_sleep(0.3);\nSELECT pg_sleep(0.3);\nSELECT pg_sleep(0.3);\nCREATE TABLE ok (id int);",
    )
    write(
        tmp_path,
        "000002_slower.up.sql",
        "CREATE TABLE never (id int);\nSELECT pg_sleep(0.1);\nSELECT pg_sleep(2);\n",
    )
    transport, engine = run_up(fresh_db_url, tmp_path, statement_timeout_ms=500)
    with transport, pytest.raises(StatementError) as caught:
        engine.up()
    assert sent_with(transport, "CREATE TABLE ok") == ["script"]
    assert str(caught.value).startswith(
        "000002_slower.up.sql line 3: statement `SELECT pg_sleep(2)` failed: "
        "canceling statement due to statement timeout"
    )
    assert "ok" in tables(fresh_db_url) and "never" not in tables(fresh_db_url)
    assert state(fresh_db_url) == [(1, False)]


def test_dollar_quotes_and_trailing_comments_survive_the_join(
    tmp_path: Path, fresh_db_url: str
) -> None:
    write(
        tmp_path,
        "000001_bodies.up.sql",
        "CREATE TABLE t (id int) -- a trailing comment; not a separator\n;\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
        "BEGIN\n  INSERT INTO t VALUES (1); -- inside the body\n  RETURN 2;\nEND\n$body$;\n"
        "/* a block comment; */ INSERT INTO t VALUES (f())\n-- a comment line\n;\n"
        "INSERT INTO t VALUES (3) -- the last statement, without a semicolon",
    )
    statements = compile_directory(tmp_path).migrations[0].up.statements
    assert len(statements) == 4
    assert statements[0].sql.endswith("not a separator")  # the case being tested is there
    assert statements[3].sql.endswith("without a semicolon")
    transport, engine = run_up(fresh_db_url, tmp_path)
    with transport:
        engine.up()
    assert sent_with(transport, "CREATE FUNCTION") == ["script"]
    assert query(fresh_db_url, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,)]
    assert state(fresh_db_url) == [(1, False)]


def test_non_transactional_files_keep_one_statement_per_round_trip(
    tmp_path: Path, fresh_db_url: str
) -> None:
    write(tmp_path, "000001_t.up.sql", "CREATE TABLE t (x int, y int);")
    write(
        tmp_path,
        "000002_idx.up.sql",
        NO_TX
        + "CREATE INDEX CONCURRENTLY t_x ON t (x);\nCREATE INDEX CONCURRENTLY t_y ON t (y);\n",
    )
    transport, engine = run_up(fresh_db_url, tmp_path)
    with transport:
        assert engine.up().applied_versions == (1, 2)
    assert sent_with(transport, "CONCURRENTLY") == ["execute", "execute"]
    assert state(fresh_db_url) == [(2, False)]


def test_a_file_changing_how_sql_is_read_goes_statement_by_statement(
    tmp_path: Path, fresh_db_url: str
) -> None:
    # The server reads a multi-statement query whole, before the SET would apply.
    write(
        tmp_path,
        "000001_escapes.up.sql",
        "CREATE TABLE e (v text);\nSET LOCAL standard_conforming_strings = off;\n"
        "INSERT INTO e VALUES ('a\\bc');\n",
    )
    transport, engine = run_up(fresh_db_url, tmp_path)
    with transport:
        engine.up()
    assert "script" not in sent_with(transport, "CREATE TABLE e")
    # Read after the SET, as when sent alone: \b is a backspace, not two characters.
    assert query(fresh_db_url, "SELECT v FROM e") == [("a\bc",)]


def test_execute_script_refuses_autocommit(fresh_db_url: str) -> None:
    with PsycopgTransport.connect(fresh_db_url) as t:
        with pytest.raises(RuntimeError, match="needs an open transaction"):
            t.execute_script(["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"])
        with t.transaction() as tx:
            assert isinstance(tx, ScriptExecutor)
            tx.execute_script(["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"])
    assert {"a", "b"} <= tables(fresh_db_url)


def test_the_data_api_keeps_one_statement_per_call() -> None:
    assert not hasattr(data_api.DataApiTransport, "execute_script")
    assert not hasattr(data_api._TransactionExecutor, "execute_script")
