"""A transactional file in one Data API call (``dbmigrate.single_call``), through the emulator.

Calls are counted by botocore's own events on the client the transport uses.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dbmigrate.compile import compile_directory
from dbmigrate.engine import Engine, EngineConfig
from dbmigrate.errors import StatementError
from devtools.postgres import Server
from tests.fixtures.data_api import SHORT_CALL_TIMEOUT, DataApiEndpoint
from tests.fixtures.postgres import new_database
from tests.migrations._helpers import MIGRATIONS, history, query, state, tables, write

FIXED_CALLS = 12
"""Calls of a run besides its files: where am I (1); the tables and the state, read under
the lock (begin, lock, two CREATE TABLE IF NOT EXISTS, read, commit: 6); the look under
the lock that finds nothing more to do (begin, lock, read, commit: 4); the final read (1)."""


def run_up(endpoint: DataApiEndpoint, directory: Path, **config: Any) -> Any:
    engine = Engine(
        endpoint.transport(), compile_directory(directory), config=EngineConfig(**config)
    )
    return engine.up()


def test_each_transactional_file_costs_one_call(
    data_api: DataApiEndpoint, data_api_calls: Counter[str], fresh_db_url: str
) -> None:
    result = run_up(data_api, MIGRATIONS)
    assert result.applied_versions == (1, 2, 3, 4)
    assert sum(data_api_calls.values()) == FIXED_CALLS + 4
    assert state(fresh_db_url) == [(4, False)]
    assert [h[:2] for h in history(fresh_db_url)] == [(v, "up") for v in (1, 2, 3, 4)]
    assert all(h[2] for h in history(fresh_db_url))  # each file's checksum, as ever
    durations = query(fresh_db_url, "SELECT duration_ms FROM schema_migrations_history")
    assert all(d >= 0 for (d,) in durations)


def test_the_statement_per_call_way_costs_five_calls_and_one_per_statement(
    data_api: DataApiEndpoint, data_api_calls: Counter[str]
) -> None:
    """The way before (and the fallback): BEGIN, lock, read, each statement, write, COMMIT."""
    statements = sum(len(m.up.statements) for m in compile_directory(MIGRATIONS).migrations)
    run_up(data_api, MIGRATIONS, single_call=False)
    assert sum(data_api_calls.values()) == FIXED_CALLS + 5 * 4 + statements


def test_a_failing_statement_leaves_nothing_of_its_file_and_is_named(
    data_api: DataApiEndpoint, fresh_db_url: str, postgres_server: Server, tmp_path: Path
) -> None:
    """The same error as a statement per call gives, word for word but the error's position
    in the statement, which PL/pgSQL does not pass on."""
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int PRIMARY KEY);")
    write(
        tmp_path,
        "000002_b.up.sql",
        "CREATE TABLE b (id int);\nINSERT INTO a VALUES (1);\n\nINSERT INTO a VALUES (1);\n",
    )
    with pytest.raises(StatementError) as caught:
        run_up(data_api, tmp_path)
    assert str(caught.value).startswith(
        "000002_b.up.sql line 4: statement `INSERT INTO a VALUES (1)` failed: "
    )
    assert 'duplicate key value violates unique constraint "a_pkey"' in str(caught.value)
    assert "Detail: Key (id)=(1) already exists." in str(caught.value)
    assert str(caught.value).endswith(
        "; nothing from this file was applied, the database is still at version 1"
    )
    assert "b" not in tables(fresh_db_url)
    assert query(fresh_db_url, "SELECT count(*) FROM a") == [(0,)]
    assert state(fresh_db_url) == [(1, False)]
    assert [h[0] for h in history(fresh_db_url)] == [1]
    with new_database(postgres_server) as other_url:
        other = DataApiEndpoint(data_api.url, other_url.rsplit("/", 1)[1])
        with pytest.raises(StatementError) as per_statement:
            run_up(other, tmp_path, single_call=False)
    assert re.sub(r" +Position: \d+;", "", str(per_statement.value)) == str(caught.value)


_OUR_SEQUENCES = "SELECT relname FROM pg_class WHERE relkind = 'S' AND relname NOT LIKE 'schema_%'"


def test_dollar_quotes_semicolons_and_our_own_tags_in_a_file_survive(
    data_api: DataApiEndpoint, fresh_db_url: str, tmp_path: Path
) -> None:
    write(
        tmp_path,
        "000001_tricky.up.sql",
        "CREATE TABLE notes (body text);\n"
        "-- a comment; with a semicolon\n"
        "INSERT INTO notes VALUES ('semi;colon'), ('$s_1$ and $dbmigrate_1$'), ($q$it's$q$);\n"
        "CREATE FUNCTION shout(t text) RETURNS text LANGUAGE plpgsql AS $$\n"
        "BEGIN\n    RETURN upper(t) || ';';\nEND;\n$$;\n"
        "INSERT INTO notes SELECT shout('hi');\n"
        # $ is allowed in identifiers: a text ending in a tag's opening would close it early.
        "CREATE TABLE a$s_1 (x int);\nCREATE TABLE b$s_2 (x int);\n"
        "COMMENT ON TABLE a$s_1 IS 'dbmigrate_1$ and $dbmigrate_2';\n"
        "CREATE TABLE c$dbmigrate_1 (x int);\n"
        "CREATE SEQUENCE r$dbmigrate_1;\n",
    )
    # Files of one statement ending in $s_N, for every N a tag could be numbered.
    for n in range(1, 16):
        write(tmp_path, f"{n + 1:06d}_q.up.sql", f"CREATE SEQUENCE q$s_{n}")
    assert run_up(data_api, tmp_path).applied_versions == tuple(range(1, 17))
    assert {"a$s_1", "b$s_2", "c$dbmigrate_1"} <= tables(fresh_db_url)
    sequences = {name for (name,) in query(fresh_db_url, _OUR_SEQUENCES)}
    assert sequences == {f"q$s_{n}" for n in range(1, 16)} | {"r$dbmigrate_1"}
    assert query(fresh_db_url, "SELECT obj_description('a$s_1'::regclass)") == [
        ("dbmigrate_1$ and $dbmigrate_2",)
    ]
    assert query(fresh_db_url, "SELECT body FROM notes ORDER BY body") == [
        ("$s_1$ and $dbmigrate_1$",),
        ("HI;",),
        ("it's",),
        ("semi;colon",),
    ]


def test_a_file_too_long_for_one_call_goes_a_statement_per_call(
    data_api: DataApiEndpoint,
    data_api_calls: Counter[str],
    fresh_db_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three statements of 30,000 characters: each fits a call, the block would not."""
    write(tmp_path, "000001_t.up.sql", "CREATE TABLE t (v text);")
    big = "".join(f"INSERT INTO t VALUES ('{'x' * 30_000}');\n" for _ in range(3))
    write(tmp_path, "000002_big.up.sql", big)
    with caplog.at_level(logging.INFO, logger="dbmigrate"):
        assert run_up(data_api, tmp_path).applied_versions == (1, 2)
    assert "000002_big.up.sql goes a statement per call: too long for one call" in caplog.text
    assert sum(data_api_calls.values()) == FIXED_CALLS + 1 + (5 + 3)
    assert query(fresh_db_url, "SELECT count(*), min(length(v)) FROM t") == [(3, 30_000)]


def test_a_statement_plpgsql_cannot_execute_sends_its_file_a_statement_per_call(
    data_api: DataApiEndpoint, fresh_db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SELECT ... INTO a new table: "EXECUTE of SELECT ... INTO is not implemented" (0A000)."""
    write(
        tmp_path,
        "000001_copy.up.sql",
        "CREATE TABLE src (x int);\nINSERT INTO src VALUES (1);\nSELECT x INTO copied FROM src;\n",
    )
    with caplog.at_level(logging.INFO, logger="dbmigrate"):
        assert run_up(data_api, tmp_path).applied_versions == (1,)
    assert "000001_copy.up.sql goes a statement per call: " in caplog.text
    assert "not implemented" in caplog.text
    assert query(fresh_db_url, "SELECT x FROM copied") == [(1,)]
    assert [h[0] for h in history(fresh_db_url)] == [1]


def test_a_statement_timeout_below_the_default_is_honoured_a_statement_per_call(
    data_api: DataApiEndpoint, tmp_path: Path
) -> None:
    """Inside one block statement_timeout would bound nothing: a lowered one sends each
    statement by itself, and a statement longer than it fails."""
    write(tmp_path, "000001_slow.up.sql", "CREATE TABLE t (x int);\nSELECT pg_sleep(1.5);\n")
    with pytest.raises(StatementError, match="canceling statement due to statement timeout"):
        run_up(data_api, tmp_path, statement_timeout_ms=500)


def test_a_file_cut_at_the_call_limit_goes_again_a_statement_per_call(
    data_api_short_timeout: DataApiEndpoint,
    fresh_db_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each statement fits the call limit, the file does not: the service cancels the cut
    call (and its transaction), the state read under the lock shows nothing applied, and
    the file goes again, each statement within the limit."""
    nap = SHORT_CALL_TIMEOUT * 0.6
    write(
        tmp_path,
        "000001_slow.up.sql",
        f"CREATE TABLE t (x int);\nSELECT pg_sleep({nap});\nINSERT INTO t VALUES (1);\n"
        f"SELECT pg_sleep({nap});\n",
    )
    with caplog.at_level(logging.INFO, logger="dbmigrate"):
        assert run_up(data_api_short_timeout, tmp_path).applied_versions == (1,)
    assert (
        "000001_slow.up.sql: its call was cut at the Data API's time limit and rolled back; "
        "sending it again a statement per call"
    ) in caplog.text
    assert query(fresh_db_url, "SELECT x FROM t") == [(1,)]
    assert [h[0] for h in history(fresh_db_url)] == [1]
