"""The engine's commands and guarantees, against a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbmigrate.compile import compile_directory
from dbmigrate.engine import AppliedStep, Engine, EngineConfig
from dbmigrate.errors import (
    ChecksumMismatchError,
    DirtyDatabaseError,
    DirtyStatementError,
    InvalidRequestError,
    StateError,
    StatementError,
)
from dbmigrate.hints import DIRTY_CAUSE
from dbmigrate.transport import Executor, Params, Row
from dbmigrate.transports.psycopg_transport import PsycopgTransport
from tests.migrations._helpers import (
    MIGRATIONS,
    NO_TX,
    PerTransactionLockTransport,
    copy_standard,
    engine,
    history,
    query,
    state,
    tables,
    write,
)


def test_version_of_a_new_database_is_none_and_creates_nothing(fresh_db_url: str) -> None:
    with engine(fresh_db_url) as e:
        assert e.version().version is None
        assert e.version().dirty is False
    assert tables(fresh_db_url) == set()


def test_up_applies_everything_and_records_history(fresh_db_url: str) -> None:
    seen: list[AppliedStep] = []
    with PsycopgTransport.connect(fresh_db_url) as transport:
        bundle = compile_directory(MIGRATIONS)
        result = Engine(transport, bundle, on_step=seen.append).up()
    assert result.applied_versions == (1, 2, 3, 4)
    assert [s.version for s in seen] == [1, 2, 3, 4]
    assert (result.start_version, result.end_version) == (None, 4)
    assert state(fresh_db_url) == [(4, False)]
    assert history(fresh_db_url) == [(m.version, "up", m.up.checksum) for m in bundle.migrations]
    with engine(fresh_db_url) as e:
        again = e.up()
    assert again.applied == () and again.message == "no change: database at version 4"


def test_failing_statement_leaves_nothing_of_its_file(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(
        tmp_path,
        "000002_b.up.sql",
        "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n\nINSERT INTO nowhere VALUES (1);\n"
        "CREATE TABLE c (id int);\n",
    )
    with engine(fresh_db_url, tmp_path) as e, pytest.raises(StatementError) as caught:
        e.up()
    message = str(caught.value)
    assert not isinstance(caught.value, DirtyDatabaseError)
    assert message.startswith("000002_b.up.sql line 4: statement `INSERT INTO nowhere VALUES (1)`")
    assert 'relation "nowhere" does not exist' in message
    assert "42P01" in message
    assert "nothing from this file was applied, the database is still at version 1" in message
    assert "\n" not in message
    assert tables(fresh_db_url) == {"a", "schema_migrations", "schema_migrations_history"}
    assert state(fresh_db_url) == [(1, False)]
    assert [h[0] for h in history(fresh_db_url)] == [1]


def test_error_message_stays_one_short_line(tmp_path: Path, fresh_db_url: str) -> None:
    long_statement = "SELECT " + " +\n ".join(["1"] * 3000) + " + nope"
    write(tmp_path, "000001_long.up.sql", long_statement + ";")
    with engine(fresh_db_url, tmp_path) as e, pytest.raises(StatementError) as caught:
        e.up()
    message = str(caught.value)
    assert len(message.encode()) < 4096
    assert "\n" not in message
    assert "SELECT 1 + 1 + 1" in message and 'column "nope" does not exist' in message


def test_statement_timeout_cancels_inside_the_transaction(
    tmp_path: Path, fresh_db_url: str
) -> None:
    write(tmp_path, "000001_slow.up.sql", "CREATE TABLE s (id int);\nSELECT pg_sleep(2);")
    with engine(fresh_db_url, tmp_path, statement_timeout_ms=200) as e:
        with pytest.raises(StatementError, match="canceling statement due to statement timeout"):
            e.up()
        assert e.version().version is None
    assert "s" not in tables(fresh_db_url)


def test_lock_timeout_gives_up_instead_of_queueing(tmp_path: Path, fresh_db_url: str) -> None:
    query(fresh_db_url, "CREATE TABLE busy (id int)")
    write(tmp_path, "000001_alter.up.sql", "ALTER TABLE busy ADD COLUMN note text;")
    with psycopg.connect(fresh_db_url) as holder:
        holder.execute("LOCK TABLE busy IN ACCESS SHARE MODE")  # an open read transaction
        with (
            engine(fresh_db_url, tmp_path, lock_timeout_ms=200) as e,
            pytest.raises(StatementError, match="canceling statement due to lock timeout"),
        ):
            e.up()
        holder.rollback()
    assert state(fresh_db_url) == []


def test_edited_applied_migration_is_refused(tmp_path: Path, fresh_db_url: str) -> None:
    copy_standard(tmp_path, upto=3)
    with engine(fresh_db_url, tmp_path) as e:
        e.up()
    copy_standard(tmp_path)  # a new migration 4 is pending too
    edited = tmp_path / "000002_add_updated_at_trigger.up.sql"
    edited.write_text(edited.read_text().replace("NOW()", "clock_timestamp()"))
    with engine(fresh_db_url, tmp_path) as e:
        with pytest.raises(ChecksumMismatchError) as caught:
            e.up()
        assert str(caught.value) == (
            "000002_add_updated_at_trigger.up.sql was edited after it was applied: restore the "
            "applied content and create a new migration instead"
        )
        with pytest.raises(ChecksumMismatchError):
            e.plan()
        with pytest.raises(ChecksumMismatchError):
            e.down(1)
    assert state(fresh_db_url) == [(3, False)]
    assert "tags" not in tables(fresh_db_url)


def test_editing_a_not_yet_applied_migration_is_fine(tmp_path: Path, fresh_db_url: str) -> None:
    copy_standard(tmp_path)
    with engine(fresh_db_url, tmp_path) as e:
        e.goto(2)
    later = tmp_path / "000004_create_tags.up.sql"
    later.write_text(later.read_text() + "\n-- reviewed\n")
    with engine(fresh_db_url, tmp_path) as e:
        assert e.up().applied_versions == (3, 4)


def test_plan_shows_pending_without_applying(fresh_db_url: str) -> None:
    with engine(fresh_db_url) as e:
        e.up(1)
        plan = e.plan()
        assert (plan.current_version, plan.target_version) == (1, 4)
        assert [(s.version, s.file) for s in plan.steps] == [
            (2, "000002_add_updated_at_trigger.up.sql"),
            (3, "000003_create_posts_table.up.sql"),
            (4, "000004_create_tags.up.sql"),
        ]
        assert plan.message == "3 migration(s) pending"
        assert [s.version for s in e.plan(1).steps] == [2]
    assert state(fresh_db_url) == [(1, False)]
    assert "posts" not in tables(fresh_db_url)


def test_up_n_goto_and_down_n(fresh_db_url: str) -> None:
    with engine(fresh_db_url) as e:
        assert e.up(2).applied_versions == (1, 2)
        assert e.goto(4).applied_versions == (3, 4)
        result = e.goto(1)
        assert [(a.version, a.direction) for a in result.applied] == [
            (4, "down"),
            (3, "down"),
            (2, "down"),
        ]
        assert "posts" not in tables(fresh_db_url)
        assert e.goto(1).applied == ()
        e.up()
        assert e.down(2).end_version == 2
        assert tables(fresh_db_url) == {"users", "schema_migrations", "schema_migrations_history"}
        with pytest.raises(InvalidRequestError, match="cannot go down 3: only 2 migration"):
            e.down(3)
        with pytest.raises(InvalidRequestError, match="no migration with version 7"):
            e.goto(7)
        with pytest.raises(InvalidRequestError, match="up N needs N >= 1"):
            e.up(0)
        assert e.down(2).end_version is None
    assert state(fresh_db_url) == []


def test_forward_only_migration_cannot_go_down(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(tmp_path, "000001_a.down.sql", "DROP TABLE a;")
    write(tmp_path, "000002_b.up.sql", "CREATE TABLE b (id int);")
    write(tmp_path, "000003_c.up.sql", "CREATE TABLE c (id int);")
    write(tmp_path, "000003_c.down.sql", "DROP TABLE c;")
    with engine(fresh_db_url, tmp_path) as e:
        e.up()
        with pytest.raises(InvalidRequestError) as caught:
            e.down(2)
    assert str(caught.value).startswith("migration 2 (000002_b) has no down file")
    assert state(fresh_db_url) == [(3, False)]
    assert {"a", "b", "c"} <= tables(fresh_db_url)  # c was not reverted either


def test_database_ahead_of_bundle_is_left_alone(tmp_path: Path, fresh_db_url: str) -> None:
    with engine(fresh_db_url) as e:
        e.up()
    with engine(fresh_db_url, copy_standard(tmp_path, upto=2)) as old:
        result = old.migrate_to_latest()
        assert result.ahead is True
        assert result.applied == ()
        assert result.message == (
            "database at version 4 is ahead of bundle target 2; leaving it (forward-only)"
        )
        plan = old.plan()
        assert plan.ahead and plan.steps == ()
        with pytest.raises(InvalidRequestError, match="ahead of bundle target 2"):
            old.down(1)
    assert state(fresh_db_url) == [(4, False)]


def test_version_missing_from_bundle_is_a_state_error(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_a.up.sql", "SELECT 1;")
    write(tmp_path, "000003_c.up.sql", "SELECT 1;")
    with engine(fresh_db_url, tmp_path) as e:
        e.force(2)
        with pytest.raises(StateError, match=r"database at version 2, but no migration file"):
            e.up()


class SpyTransport:
    """A real psycopg transport that also records what the engine sends, and when."""

    def __init__(self, inner: PsycopgTransport, on_statement: Any = None) -> None:
        self.inner = inner
        self.calls: list[tuple[str, bool, bool]] = []  # (sql, long_running, in transaction)
        self.on_statement = on_statement

    def execute(
        self, sql: str, params: Params | None = None, *, long_running: bool = False
    ) -> list[Row]:
        self.calls.append((sql, long_running, False))
        if self.on_statement:
            self.on_statement(sql)
        return self.inner.execute(sql, params, long_running=long_running)

    def transaction(self) -> AbstractContextManager[Executor]:
        spy = self

        @contextmanager
        def wrapped() -> Iterator[Executor]:
            with spy.inner.transaction() as tx:

                class Recorder:
                    def execute(
                        self, sql: str, params: Params | None = None, *, long_running: bool = False
                    ) -> list[Row]:
                        spy.calls.append((sql, long_running, True))
                        return tx.execute(sql, params, long_running=long_running)

                yield Recorder()

        return wrapped()

    def close(self) -> None:
        self.inner.close()


def test_non_transactional_file_runs_with_the_dirty_protocol(
    tmp_path: Path, fresh_db_url: str
) -> None:
    write(tmp_path, "000001_t.up.sql", "CREATE TABLE t (x int);\nINSERT INTO t VALUES (1), (2);")
    write(tmp_path, "000002_idx.up.sql", f"{NO_TX}CREATE INDEX CONCURRENTLY t_x ON t (x);\n")
    write(tmp_path, "000002_idx.down.sql", f"{NO_TX}DROP INDEX CONCURRENTLY t_x;\n")
    observed: list[list[tuple[Any, ...]]] = []

    def look(sql: str) -> None:
        if "CONCURRENTLY" in sql:  # what another session sees while it runs
            observed.append(state(fresh_db_url))

    bundle = compile_directory(tmp_path)
    with PsycopgTransport.connect(fresh_db_url) as inner:
        spy = SpyTransport(inner, look)
        assert Engine(spy, bundle).up().applied_versions == (1, 2)
        create = [c for c in spy.calls if "CONCURRENTLY" in c[0]]
        checksum = bundle.get(2).up.checksum[:16]  # type: ignore[union-attr]
        # Behind its marker (dbmigrate.resume), so that another run can find it running.
        marker = f"/* dbmigrate 2 statement 1/1 {checksum} */ "
        assert create == [(marker + "CREATE INDEX CONCURRENTLY t_x ON t (x)", True, False)]
        assert observed == [[(2, True)]]
        assert state(fresh_db_url) == [(2, False)]
        assert query(
            fresh_db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass"
        ) == [(True,)]
        assert [h[:2] for h in history(fresh_db_url)] == [(1, "up"), (2, "up")]
        observed.clear()
        assert Engine(spy, bundle).down(1).end_version == 1
        assert observed == [[(1, True)]]  # golang-migrate marks the target version dirty
    assert state(fresh_db_url) == [(1, False)]


def test_dirty_database_is_refused_until_forced(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_t.up.sql", "CREATE TABLE t (x int);")
    bad = write(
        tmp_path,
        "000002_idx.up.sql",
        f"{NO_TX}CREATE INDEX CONCURRENTLY t_x ON t (x);\nCREATE INDEX CONCURRENTLY t_y ON t (y);\n",
    )
    with engine(fresh_db_url, tmp_path) as e, pytest.raises(DirtyStatementError) as caught:
        e.up()
    failure = str(caught.value)
    assert failure.startswith(
        "000002_idx.up.sql line 3: statement `CREATE INDEX CONCURRENTLY t_y ON t (y)` failed: "
        'column "y" does not exist'
    )
    assert failure.endswith(
        "database is dirty at version 2 (" + DIRTY_CAUSE + "): fix the "
        "schema by hand, then run `python -m ops migrate force 2` (or `python -m ops migrate "
        "force 1` to re-run 000002_idx.up.sql)"
    )
    assert state(fresh_db_url) == [(2, True)]

    refusal = (
        "database is dirty at version 2 (" + DIRTY_CAUSE + "): fix the "
        "schema by hand, then run `python -m ops migrate force 2` (or `python -m ops migrate "
        "force 1` to re-run 000002_idx.up.sql)"
    )
    with engine(fresh_db_url, tmp_path) as e:
        for command in (e.up, e.plan, lambda: e.down(1), lambda: e.goto(1)):
            with pytest.raises(DirtyDatabaseError) as refused:
                command()
            assert str(refused.value) == refusal
        assert e.version().dirty is True

        # The operator drops the half-made index, fixes the file and re-runs it.
        query(fresh_db_url, "DROP INDEX t_x")
        assert e.force(1).version == 1
    bad.write_text(f"{NO_TX}CREATE INDEX CONCURRENTLY t_x ON t (x);\n")
    with engine(fresh_db_url, tmp_path) as e:
        assert e.up().applied_versions == (2,)
    assert state(fresh_db_url) == [(2, False)]
    assert [h[:2] for h in history(fresh_db_url)] == [(1, "up"), (1, "force"), (2, "up")]


def test_force_minus_one_means_no_version(fresh_db_url: str) -> None:
    with engine(fresh_db_url) as e:
        e.up(1)
        assert e.force(-1).version is None
        assert e.version().version is None
    assert state(fresh_db_url) == []


def test_custom_force_hint_for_other_callers(tmp_path: Path, fresh_db_url: str) -> None:
    write(tmp_path, "000001_i.up.sql", f"{NO_TX}CREATE INDEX CONCURRENTLY i ON nowhere (x);")
    hint = 'invoke the migration Lambda with {{"action": "force", "version": {version}}}'
    with (
        engine(fresh_db_url, tmp_path, force_hint=hint) as e,
        pytest.raises(DirtyDatabaseError, match=r'"action": "force", "version": 1}'),
    ):
        e.up()


def test_concurrent_up_waits_for_the_lock_and_skips_what_is_done(
    tmp_path: Path, fresh_db_url: str
) -> None:
    """Deterministic version of the race: B plans while A holds the lock mid-migration."""
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(0.5);")
    write(tmp_path, "000002_b.up.sql", "CREATE TABLE b (id int);")
    errors: list[BaseException] = []
    results: list[Any] = []

    def run() -> None:
        try:
            with engine(fresh_db_url, tmp_path) as e:
                results.append(e.up())
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=run)
    first.start()
    second = threading.Thread(target=run)
    second.start()
    first.join()
    second.join()
    assert errors == []
    applied = sorted(v for r in results for v in r.applied_versions)
    assert applied == [1, 2]
    assert sorted(h[0] for h in history(fresh_db_url)) == [1, 2]


def test_engine_rejects_negative_timeouts(fresh_db_url: str) -> None:
    with (
        pytest.raises(InvalidRequestError, match="timeouts"),
        engine(fresh_db_url, lock_timeout_ms=-1),
    ):
        pass


def test_applied_by_is_recorded(fresh_db_url: str) -> None:
    with engine(fresh_db_url, applied_by="lambda:req-123") as e:
        e.up(1)
    assert query(
        fresh_db_url, "SELECT applied_by, duration_ms >= 0 FROM schema_migrations_history"
    ) == [("lambda:req-123", True)]


def test_config_defaults_are_the_documented_ones() -> None:
    config = EngineConfig()
    assert (config.lock_timeout_ms, config.statement_timeout_ms) == (5_000, 40_000)


def test_each_file_costs_three_bookkeeping_statements(fresh_db_url: str) -> None:
    """A statement per call (the Data API's way without single calls; the spy has no
    execute_batch): lock with timeouts, locked read, state + history write; no checksum
    query for versions this runner wrote itself."""
    bundle = compile_directory(MIGRATIONS)
    migration_sql = {s.sql for m in bundle.migrations for s in m.up.statements}
    with PsycopgTransport.connect(fresh_db_url) as inner:
        spy = SpyTransport(inner)
        per_statement = EngineConfig(single_call=False)
        assert Engine(spy, bundle, config=per_statement).up().applied_versions == (1, 2, 3, 4)
    bookkeeping = [sql for sql, _, in_tx in spy.calls if in_tx and sql not in migration_sql]
    # lock + two CREATE TABLE IF NOT EXISTS + the state read under the lock; lock + read
    prepare_tx, final_look = 4, 2
    assert len(bookkeeping) == prepare_tx + 3 * len(bundle.migrations) + final_look
    assert not [sql for sql, *_ in spy.calls if "checksum FROM" in sql]
    assert state(fresh_db_url) == [(4, False)]


def test_versions_another_runner_applied_meanwhile_are_checked(
    tmp_path: Path, fresh_db_url: str
) -> None:
    """A runner whose locked read finds a version it did not write checks the checksums.

    Another runner can go between two files of a run that locks per transaction (the
    Data API's way)."""
    mine, theirs = copy_standard(tmp_path / "mine"), copy_standard(tmp_path / "theirs")
    edited = theirs / "000002_add_updated_at_trigger.up.sql"
    edited.write_text(edited.read_text() + "\n-- edited\n")

    def other_runner_moves_on(step: AppliedStep) -> None:
        if step.version == 1:
            with engine(fresh_db_url, theirs) as other:
                assert other.up().applied_versions == (2, 3, 4)

    with PerTransactionLockTransport.connect(fresh_db_url) as transport:
        me = Engine(transport, compile_directory(mine), on_step=other_runner_moves_on)
        with pytest.raises(ChecksumMismatchError, match="000002_add_updated_at_trigger"):
            me.up()
    assert state(fresh_db_url) == [(4, False)]


def test_waiting_for_another_runner_is_not_cut_by_lock_timeout(
    tmp_path: Path, fresh_db_url: str
) -> None:
    """lock_timeout is for table locks: the advisory lock is taken before it is set, so a run
    waits for another runner's lock longer than lock_timeout, then applies its files.

    The other runner takes the lock between two runs: taken while files were applied, it
    could come after the run's last batch, and the run would never wait."""
    write(tmp_path, "000001_a.up.sql", "CREATE TABLE a (id int);")
    write(tmp_path, "000002_b.up.sql", "CREATE TABLE b (id int);")
    releasing = threading.Event()
    with PsycopgTransport.connect(fresh_db_url) as transport:
        me = Engine(
            transport, compile_directory(tmp_path), config=EngineConfig(lock_timeout_ms=100)
        )
        assert me.up(1).applied_versions == (1,)
        with psycopg.connect(fresh_db_url) as holder:
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (EngineConfig().lock_key,))

            def another_runner_finishes() -> None:
                releasing.set()
                holder.commit()

            timer = threading.Timer(0.5, another_runner_finishes)
            timer.start()
            try:
                applied = me.up().applied_versions
                waited = releasing.is_set()  # up returned only once the lock was released
            finally:
                timer.join()
    assert applied == (2,)
    assert waited
    assert state(fresh_db_url) == [(2, False)]
