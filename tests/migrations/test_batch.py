"""One round trip per transactional file on psycopg, with the same errors and guarantees."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg2
import pytest

from dbmigrate import batch as batching
from dbmigrate.compile import compile_directory
from dbmigrate.engine import ADVISORY_LOCK_KEY, AppliedStep, Engine, EngineConfig
from dbmigrate.errors import ConnectError, DirtyDatabaseError, StatementError
from dbmigrate.state import HistoryRow, write_state
from dbmigrate.transport import Batched, BatchError, BatchTransport, Params, Row
from dbmigrate.transports import data_api
from dbmigrate.transports.psycopg2_transport import Psycopg2Transport
from dbmigrate.transports.psycopg_transport import PsycopgTransport
from devtools.postgres import Server
from tests.fixtures.postgres import new_database
from tests.migrations._helpers import NO_TX, engine, history, query, state, tables, write

Driver = type[PsycopgTransport] | type[Psycopg2Transport]
DRIVERS = pytest.mark.parametrize("driver", [PsycopgTransport, Psycopg2Transport])
"""The transport tests of a batch run over both libpq drivers (dbmigrate.transports.session)."""


class CountingTransport(PsycopgTransport):
    """Records every round trip the engine asks for: ("execute" | "batch", text)."""

    sent: list[tuple[str, str]]

    def execute(
        self, sql: str, params: Params | None = None, *, long_running: bool = False
    ) -> list[Row]:
        self.sent.append(("execute", sql))
        return super().execute(sql, params, long_running=long_running)

    def execute_batch(
        self, transactions: Sequence[Sequence[Batched]], *, receipt: str
    ) -> list[str]:
        self.sent.append(("batch", "\n".join(sql for tx in transactions for sql, _ in tx)))
        return super().execute_batch(transactions, receipt=receipt)


def run_up(
    url: str, directory: Path, on_step: Any = None, **config: Any
) -> tuple[CountingTransport, Engine]:
    transport = CountingTransport(psycopg.connect(url, autocommit=True))
    transport.sent = []
    bundle = compile_directory(directory)
    return transport, Engine(transport, bundle, config=EngineConfig(**config), on_step=on_step)


def sent_with(transport: CountingTransport, fragment: str) -> list[str]:
    """How each round trip carrying ``fragment`` was sent."""
    return [kind for kind, text in transport.sent if fragment in text]


def test_consecutive_files_share_one_request_but_not_a_transaction(
    tmp_path: Path, fresh_db_url: str
) -> None:
    write(
        tmp_path,
        "000001_three.up.sql",
        "CREATE TABLE t1 (id int);\nCREATE INDEX t1_id ON t1 (id);\nINSERT INTO t1 VALUES (7);\n",
    )
    write(tmp_path, "000002_one.up.sql", "CREATE TABLE t2 (id int);\n")
    transport, engine = run_up(fresh_db_url, tmp_path)
    with transport:
        assert engine.up().applied_versions == (1, 2)
    # Both files, each with its lock, state check and state and history write: one request.
    assert [kind for kind, _ in transport.sent].count("batch") == 1
    assert sent_with(transport, "t1") == sent_with(transport, "t2") == ["batch"]
    assert query(fresh_db_url, "SELECT id FROM t1") == [(7,)]
    assert state(fresh_db_url) == [(2, False)]
    # Each file committed in its own transaction, together with its own history row.
    made_by = dict(
        query(
            fresh_db_url,
            "SELECT relname, xmin::text FROM pg_class WHERE relname IN ('t1', 't2')",
        )
    )
    recorded_by = query(
        fresh_db_url, "SELECT version, xmin::text FROM schema_migrations_history ORDER BY id"
    )
    assert recorded_by == [(1, made_by["t1"]), (2, made_by["t2"])]
    assert made_by["t1"] != made_by["t2"]


def test_failure_inside_a_batch_names_its_statement(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(
        tmp_path,
        "000002_b.up.sql",
        "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n\n"
        "INSERT INTO b VALUES ('not a number');\nCREATE TABLE c (id int);\n",
    )
    reported: list[int] = []
    transport, engine = run_up(fresh_db_url, tmp_path, on_step=lambda s: reported.append(s.version))
    with transport, pytest.raises(StatementError) as caught:
        engine.up()
    assert reported == [1]  # the file its batch committed first is reported, then the error
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
    # Sent once, in the batch whose first file committed, then statement by statement up
    # to the failing one to find it.
    assert sent_with(transport, "CREATE TABLE a") == ["batch"]
    assert sent_with(transport, "CREATE TABLE b") == ["batch", "execute"]
    assert sent_with(transport, "CREATE TABLE c") == ["batch"]
    assert tables(fresh_db_url) == {"a", "schema_migrations", "schema_migrations_history"}
    assert state(fresh_db_url) == [(1, False)]
    assert [h[0] for h in history(fresh_db_url)] == [1]


def test_a_failure_at_commit_names_the_file(tmp_path: Path, fresh_db_url: str) -> None:
    """A deferred constraint fails at COMMIT only: the statement-by-statement re-run, rolled
    back before it commits, cannot name a statement, so the file is named."""
    write(
        tmp_path,
        "000001_x.up.sql",
        "CREATE TABLE p (id int PRIMARY KEY);\n"
        "CREATE TABLE c (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO c VALUES (1);\n",
    )
    transport, engine = run_up(fresh_db_url, tmp_path)
    with transport, pytest.raises(StatementError) as caught:
        engine.up()
    assert str(caught.value).startswith("000001_x.up.sql: failed: insert or update on table")
    assert "(SQLSTATE 23503)" in str(caught.value)
    assert str(caught.value).endswith(
        "nothing from this file was applied, the database is still at version none"
    )
    assert isinstance(caught.value.__cause__, psycopg.errors.ForeignKeyViolation)
    # The re-run ran every statement without error and was rolled back all the same.
    assert sent_with(transport, "INSERT INTO c") == ["batch", "execute"]
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
    assert sent_with(transport, "CREATE TABLE ok") == ["batch"]
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
    assert sent_with(transport, "CREATE FUNCTION") == ["batch"]
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
    assert "batch" not in sent_with(transport, "CREATE TABLE e")
    # Read after the SET, as when sent alone: \b is a backspace, not two characters.
    assert query(fresh_db_url, "SELECT v FROM e") == [("a\bc",)]


@DRIVERS
def test_execute_batch_stops_at_the_failing_transaction_and_leaves_the_connection_usable(
    driver: Driver, fresh_db_url: str
) -> None:
    with driver.connect(fresh_db_url) as t:
        assert isinstance(t, BatchTransport)
        with pytest.raises(BatchError) as caught:
            t.execute_batch(
                [
                    [("CREATE TABLE a (id int)", None)],
                    [("CREATE TABLE a2 (id int)", None), ("SELECT 1 / 0", None)],
                    [("CREATE TABLE never (id int)", None)],
                ],
                receipt="'done ' || (SELECT count(*) FROM pg_class WHERE relname IN ('a', 'a2'))",
            )
        assert caught.value.receipts == ("done 1",)  # the first committed, with its receipt
        assert caught.value.sqlstate == "22012"
        assert type(caught.value.__cause__).__name__ == "DivisionByZero"  # the driver's own
        assert t.execute("SELECT 1") == [(1,)]  # not left in an aborted transaction
        assert {"a"} <= tables(fresh_db_url)
        assert not {"a2", "never"} & tables(fresh_db_url)
        assert t.execute_batch([[("CREATE TABLE b (v text)", None)]], receipt="42") == ["42"]
        with pytest.raises(BatchError) as nothing:
            t.execute_batch([[("SELECT 1 / 0", None)]], receipt="42")
        assert nothing.value.receipts == ()  # not the receipts the previous batch left
        with t.transaction(), pytest.raises(RuntimeError, match="one is already open"):
            t.execute_batch([[("CREATE TABLE c (id int)", None)]], receipt="1")
    assert {"b"} <= tables(fresh_db_url) and "c" not in tables(fresh_db_url)


@pytest.mark.parametrize(
    ("driver", "error"),
    [(PsycopgTransport, psycopg.OperationalError), (Psycopg2Transport, psycopg2.OperationalError)],
)
def test_execute_batch_raises_the_drivers_error_when_the_outcome_is_unknown(
    driver: Driver, error: type[Exception], fresh_db_url: str
) -> None:
    """The session itself dies mid-batch: which transactions committed cannot be read back."""
    with driver.connect(fresh_db_url) as t, pytest.raises(error):
        t.execute_batch(
            [
                [("CREATE TABLE before_death (id int)", None)],
                [("SELECT pg_terminate_backend(pg_backend_pid())", None)],
            ],
            receipt="1",
        )
    assert "before_death" in tables(fresh_db_url)


@DRIVERS
def test_batch_parameters_are_quoted_as_literals(driver: Driver, fresh_db_url: str) -> None:
    awkward = "o'neil \\ 100% $$ :name %(x)s"
    with driver.connect(fresh_db_url) as t:
        t.execute_batch(
            [
                [
                    ("CREATE TABLE q (v text, n bigint, b boolean, z text)", None),
                    (
                        "INSERT INTO q VALUES (:v, :n, :b, :z)",
                        {"v": awkward, "n": 2**62, "b": True, "z": None},
                    ),
                ]
            ],
            receipt="1",
        )
    assert query(fresh_db_url, "SELECT v, n, b, z FROM q") == [(awkward, 2**62, True, None)]


def test_batches_respect_the_file_and_size_limits(
    tmp_path: Path, fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batching, "BATCH_MAX_FILES", 2)
    monkeypatch.setattr(batching, "BATCH_MAX_CHARS", 500)
    for version in (1, 2, 3, 5, 6):
        write(tmp_path, f"{version:06d}_t{version}.up.sql", f"CREATE TABLE t{version} (id int);")
    big = "".join(f"INSERT INTO t3 VALUES ({n});\n" for n in range(40))  # > 500 characters
    write(tmp_path, "000004_big.up.sql", big)
    transport, e = run_up(fresh_db_url, tmp_path)
    with transport:
        assert e.up().applied_versions == (1, 2, 3, 4, 5, 6)
    batches = [text for kind, text in transport.sent if kind == "batch"]
    contents = [
        [f"t{v} " in text or f"t{v} VALUES" in text for v in (1, 2, 5, 6)] for text in batches
    ]
    assert len(batches) == 4  # t1 t2 | t3 (the big file would pass 500 characters) | big | t5 t6
    assert contents[0] == [True, True, False, False]
    assert "INSERT INTO t3" not in batches[1] and "INSERT INTO t3" in batches[2]
    assert contents[3] == [False, False, True, True]
    assert query(fresh_db_url, "SELECT count(*) FROM t3") == [(40,)]


def test_another_runner_moving_the_state_mid_batch_stops_it_at_the_next_file(
    tmp_path: Path, fresh_db_url: str
) -> None:
    """While this runner's first file holds the lock, an older runner (see
    ``_older_runner_applies``) queues for it, gets it when that file commits, and records
    versions 2 and 3. The guard of this runner's
    second file, next in the same request, sees that: nothing more of the request runs,
    and the runner re-reads the state under the lock and goes on from version 3."""
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(0.5);\n")
    for version, table in ((2, "b"), (3, "c"), (4, "d"), (5, "e")):
        write(tmp_path, f"{version:06d}_{table}.up.sql", f"CREATE TABLE {table} (id int);")
    bundle = compile_directory(tmp_path)
    errors: list[BaseException] = []

    def another_runner() -> None:
        try:
            with psycopg.connect(fresh_db_url, autocommit=True) as conn:
                _wait_for_the_lock_held_by(conn, "pg_sleep(0.5)")  # this runner's first file
                _older_runner_applies(conn, bundle, {2: "b", 3: "c"})
        except BaseException as exc:
            errors.append(exc)

    other = threading.Thread(target=another_runner)
    transport, me = run_up(fresh_db_url, tmp_path)
    with transport:
        other.start()
        assert me.up().applied_versions == (1, 4, 5)
    other.join(timeout=30)
    assert errors == []
    assert sent_with(transport, "CREATE TABLE b") == ["batch"]  # in the request; never ran
    assert sent_with(transport, "CREATE TABLE d") == ["batch", "execute"]  # then under the lock
    assert [h[0] for h in history(fresh_db_url)] == [1, 2, 3, 4, 5]
    assert query(
        fresh_db_url, "SELECT applied_by FROM schema_migrations_history WHERE version = 2"
    ) == [("other",)]
    assert state(fresh_db_url) == [(5, False)]


def _older_runner_applies(
    conn: psycopg.Connection[Any], bundle: Any, tables_by_version: dict[int, str]
) -> None:
    """A runner that takes only this engine's own key, as releases before golang-migrate's
    key did (say, the previous Lambda during a deploy), applies these versions: the only
    kind of runner that can still move the state in the middle of a psycopg run, which
    holds golang-migrate's key for the whole of it."""
    executor = PsycopgTransport(conn)  # sets the isolation level: not inside the transaction
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        for version, table in tables_by_version.items():
            conn.execute(f"CREATE TABLE {table} (id int)")
            migration = bundle.get(version)
            assert migration is not None and migration.up is not None
            row = HistoryRow(version, migration.name, "up", migration.up.checksum, 1, "other")
            write_state(executor, version, dirty=False, record=row)


def _wait_for_the_lock_held_by(conn: psycopg.Connection[Any], marker: str) -> None:
    """Until a session whose query contains ``marker`` holds the migration lock (10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid) "
            "WHERE locktype = 'advisory' AND granted AND strpos(query, %s) > 0",
            (marker,),
        ).fetchone()
        if row and row[0]:
            return
        time.sleep(0.01)
    raise AssertionError(f"no session running {marker!r} got the migration lock within 10 s")


def test_a_connection_lost_mid_batch_says_the_outcome_is_unknown(
    tmp_path: Path, fresh_db_url: str
) -> None:
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(tmp_path, "000002_dies.up.sql", "SELECT pg_terminate_backend(pg_backend_pid());")
    transport, e = run_up(fresh_db_url, tmp_path)
    with transport, pytest.raises(ConnectError) as caught:
        e.up()
    assert str(caught.value).startswith(
        "the connection failed while applying 000001_a.up.sql to 000002_dies.up.sql (up): "
    )
    assert "which of them committed is unknown: run `version`" in str(caught.value)
    assert state(fresh_db_url) == [(1, False)]  # the first did commit


def test_the_guard_is_a_session_function_not_a_do_block_per_file(
    tmp_path: Path, fresh_db_url: str
) -> None:
    for version in (1, 2):
        write(tmp_path, f"{version:06d}_t{version}.up.sql", f"CREATE TABLE t{version} (id int);")
    transport, e = run_up(fresh_db_url, tmp_path)
    with transport:
        assert e.up().applied_versions == (1, 2)
    (batch,) = [text for kind, text in transport.sent if kind == "batch"]
    assert batch.count("SELECT pg_temp.dbmigrate_guard(") == 2 and "DO $" not in batch
    assert sent_with(transport, "CREATE OR REPLACE FUNCTION pg_temp.dbmigrate_guard") == [
        "execute"
    ]  # once per session
    assert query(
        fresh_db_url, "SELECT count(*) FROM pg_proc WHERE proname = 'dbmigrate_guard'"
    ) == [(0,)]  # gone with the session: nothing of it stays in the database


def test_a_migration_dropping_temporary_objects_falls_back_to_do_blocks(
    tmp_path: Path, fresh_db_url: str
) -> None:
    """DISCARD TEMP drops the guard function mid-batch: the next file's guard fails before
    the file runs, and that file and the rest go again guarded by DO blocks."""
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(tmp_path, "000002_b.up.sql", "CREATE TABLE b (id int);\nDISCARD TEMP;\n")
    write(tmp_path, "000003_c.up.sql", "CREATE TABLE c (id int);")
    write(tmp_path, "000004_d.up.sql", "CREATE TABLE d (id int);")
    transport, e = run_up(fresh_db_url, tmp_path)
    with transport:
        assert e.up().applied_versions == (1, 2, 3, 4)
    assert sent_with(transport, "CREATE TABLE c") == ["batch", "batch"]
    assert "DO $" in [text for kind, text in transport.sent if kind == "batch"][-1]
    assert [h[0] for h in history(fresh_db_url)] == [1, 2, 3, 4]
    assert state(fresh_db_url) == [(4, False)]


def test_a_role_that_may_not_create_temporary_objects_is_guarded_by_do_blocks(
    tmp_path: Path, postgres_server: Server
) -> None:
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(tmp_path, "000002_b.up.sql", "CREATE TABLE b (id int);")
    role = f"no_temp_{uuid.uuid4().hex[:12]}"
    query(postgres_server.admin_url, f"CREATE ROLE {role} LOGIN")
    try:
        with new_database(postgres_server) as url:
            dbname = urlsplit(url).path.lstrip("/")
            query(url, f"ALTER DATABASE {dbname} OWNER TO {role}")
            query(url, f"REVOKE TEMPORARY ON DATABASE {dbname} FROM PUBLIC, {role}")
            parts = urlsplit(url)
            as_role = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))
            transport, e = run_up(as_role, tmp_path)
            with transport:
                assert e.up().applied_versions == (1, 2)
            (batch,) = [text for kind, text in transport.sent if kind == "batch"]
            assert batch.count("DO $") == 2 and "pg_temp" not in batch
            assert query(url, "SELECT tableowner FROM pg_tables WHERE tablename = 'b'") == [(role,)]
            assert state(url) == [(2, False)]
    finally:
        query(postgres_server.admin_url, f"DROP ROLE {role}")


def test_applied_by_with_quotes_is_recorded_exactly(fresh_db_url: str) -> None:
    who = "o'brien@host\\; DROP TABLE users; --"
    with engine(fresh_db_url, applied_by=who) as e:
        e.up(1)
    assert query(fresh_db_url, "SELECT applied_by FROM schema_migrations_history") == [(who,)]


def test_history_duration_is_measured_by_the_server(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_slow.up.sql", "CREATE TABLE s (id int);\nSELECT pg_sleep(0.3);\n")
    transport, e = run_up(fresh_db_url, tmp_path)
    with transport:
        (applied,) = e.up().applied
    assert sent_with(transport, "pg_sleep") == ["batch"]
    (duration,) = query(fresh_db_url, "SELECT duration_ms FROM schema_migrations_history")[0]
    assert 300 <= duration < 5_000
    assert applied.duration_ms >= duration  # the server's too, read after the history write


def test_a_runner_whose_state_moved_rereads_it_and_applies_nothing_twice(
    tmp_path: Path, fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older runner (see ``_older_runner_applies``) commits between two of this runner's
    requests: the guard at the head
    of the next request finds the version moved, that request runs nothing, and the runner
    re-reads the state under the lock and carries on from there."""
    monkeypatch.setattr(batching, "BATCH_MAX_FILES", 1)  # a request per file: on_step between
    for version, table in enumerate(("a", "b", "c", "d", "e"), start=1):
        write(tmp_path, f"{version:06d}_{table}.up.sql", f"CREATE TABLE {table} (id int);")

    bundle = compile_directory(tmp_path)

    def another_runner_moves_on(step: AppliedStep) -> None:
        if step.version == 1:
            with psycopg.connect(fresh_db_url, autocommit=True) as conn:
                _older_runner_applies(conn, bundle, {2: "b", 3: "c"})

    transport, me = run_up(fresh_db_url, tmp_path, on_step=another_runner_moves_on)
    with transport:
        assert me.up().applied_versions == (1, 4, 5)
    assert sent_with(transport, "CREATE TABLE b") == ["batch"]  # guarded: it did not run
    assert sent_with(transport, "CREATE TABLE d") == ["execute"]  # under the lock, re-read
    assert sent_with(transport, "CREATE TABLE e") == ["batch"]  # and one request again
    assert [h[0] for h in history(fresh_db_url)] == [1, 2, 3, 4, 5]
    assert state(fresh_db_url) == [(5, False)]


def test_concurrent_batches_wait_for_each_other(tmp_path: Path, fresh_db_url: str) -> None:
    """The guard takes the lock before it reads: a runner waiting on it sees the new version."""
    write(tmp_path, "000001_slow.up.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(0.4);")
    write(tmp_path, "000002_b.up.sql", "CREATE TABLE b (id int);")
    results: list[tuple[int, ...]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            transport, e = run_up(fresh_db_url, tmp_path)
            with transport:
                barrier.wait(timeout=10)
                results.append(e.up().applied_versions)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(v for r in results for v in r) == [1, 2]
    assert [h[0] for h in history(fresh_db_url)] == [1, 2]


def test_the_data_api_keeps_one_statement_per_call() -> None:
    assert not hasattr(data_api.DataApiTransport, "execute_batch")
    assert not hasattr(data_api._TransactionExecutor, "execute_batch")


def prepared_names(transport: PsycopgTransport | Psycopg2Transport) -> list[object]:
    """This session's SQL-level prepared statements made by the transport."""
    rows = transport.execute(
        "SELECT name FROM pg_prepared_statements WHERE name LIKE 'dbmigrate%' ORDER BY name"
    )
    return [row[0] for row in rows]


def test_bookkeeping_is_prepared_once_per_session(tmp_path: Path, fresh_db_url: str) -> None:
    for version in (1, 2, 3):
        write(tmp_path, f"{version:06d}_t{version}.up.sql", f"CREATE TABLE t{version} (id int);")
    transport, e = run_up(fresh_db_url, tmp_path)
    with transport:
        assert e.up().applied_versions == (1, 2, 3)
        assert prepared_names(transport) == ["dbmigrate_1"]  # the state and history write
    assert [h[0] for h in history(fresh_db_url)] == [1, 2, 3]
    assert state(fresh_db_url) == [(3, False)]


@DRIVERS
def test_a_statement_that_cannot_be_prepared_yet_is_sent_with_literals(
    driver: Driver, fresh_db_url: str
) -> None:
    insert = "INSERT INTO later (v) VALUES (:v)"
    with driver.connect(fresh_db_url) as t:
        t.execute_batch(
            [[("CREATE TABLE later (v text)", None), (insert, {"v": "first"})]], receipt="1"
        )
        assert prepared_names(t) == []  # the table did not exist when it was first seen
        t.execute_batch([[(insert, {"v": "second"})]], receipt="1")
        assert prepared_names(t) == ["dbmigrate_1"]
    assert query(fresh_db_url, "SELECT v FROM later ORDER BY v") == [("first",), ("second",)]


def test_a_migration_that_deallocates_still_applies(tmp_path: Path, fresh_db_url: str) -> None:
    """DEALLOCATE ALL inside a file drops the prepared bookkeeping mid-batch: the files the
    batch had not committed are sent again with literals, and so is every later batch."""
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(tmp_path, "000002_b.up.sql", "CREATE TABLE b (id int);\nDEALLOCATE ALL;\n")
    write(tmp_path, "000003_c.up.sql", "CREATE TABLE c (id int);")
    transport, e = run_up(fresh_db_url, tmp_path)
    with transport:
        assert e.up().applied_versions == (1, 2, 3)
        assert prepared_names(transport) == []
    assert sent_with(transport, "DEALLOCATE ALL") == ["batch"]
    assert [h[0] for h in history(fresh_db_url)] == [1, 2, 3]
    assert state(fresh_db_url) == [(3, False)]
