"""A database migrated by the golang-migrate CLI continues with this engine, and back."""

from __future__ import annotations

import psycopg
import pytest

from dbmigrate.errors import DirtyDatabaseError
from tests.migrations._helpers import MIGRATIONS, engine, history, query, state, tables

# Exactly what golang-migrate's postgres driver creates.
GOLANG_MIGRATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version bigint not null primary key, dirty boolean not null)"
)


def migrate_like_golang(url: str, upto: int, *, dirty: bool = False) -> None:
    """Apply up files <= upto as golang-migrate does: each file as one multi-statement Exec."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(GOLANG_MIGRATE_TABLE)
        for path in sorted(MIGRATIONS.glob("*.up.sql")):
            if int(path.name.split("_", 1)[0]) <= upto:
                conn.execute(path.read_text())  # no params: sent as one simple query
        conn.execute("TRUNCATE schema_migrations")
        conn.execute(
            "INSERT INTO schema_migrations (version, dirty) VALUES (%s, %s)", (upto, dirty)
        )


@pytest.mark.parametrize("left_at", [1, 2, 3])
def test_continue_a_golang_migrate_database(fresh_db_url: str, left_at: int) -> None:
    migrate_like_golang(fresh_db_url, left_at)
    with engine(fresh_db_url) as e:
        assert e.version().version == left_at
        assert [s.version for s in e.plan().steps] == list(range(left_at + 1, 5))
        result = e.up()
    assert result.applied_versions == tuple(range(left_at + 1, 5))
    assert state(fresh_db_url) == [(4, False)]
    # Versions golang-migrate applied have no checksum on record, and that is accepted.
    assert [h[0] for h in history(fresh_db_url)] == list(range(left_at + 1, 5))
    assert {"users", "posts", "tags", "post_tags"} <= tables(fresh_db_url)
    with engine(fresh_db_url) as e:
        assert e.up().applied == ()


def test_state_left_for_golang_migrate_is_its_own_format(fresh_db_url: str) -> None:
    with engine(fresh_db_url) as e:
        e.up()
    columns = query(
        fresh_db_url,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'schema_migrations' ORDER BY ordinal_position",
    )
    assert columns == [("version", "bigint", "NO"), ("dirty", "boolean", "NO")]
    assert query(
        fresh_db_url,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'schema_migrations'::regclass "
        "AND i.indisprimary",
    ) == [("version",)]
    # golang-migrate reads `SELECT version, dirty FROM schema_migrations LIMIT 1`.
    assert state(fresh_db_url) == [(4, False)]
    with engine(fresh_db_url) as e:
        e.down_all()
    assert state(fresh_db_url) == []  # golang-migrate's "no version"


def test_golang_migrate_dirty_state_is_refused_then_forced(fresh_db_url: str) -> None:
    migrate_like_golang(fresh_db_url, 2, dirty=True)
    with engine(fresh_db_url) as e:
        with pytest.raises(DirtyDatabaseError, match=r"dirty at version 2.*migrate force 2"):
            e.up()
        e.force(2)
        assert e.up().applied_versions == (3, 4)


def test_golang_migrate_nil_dirty_row_reads_as_no_version(fresh_db_url: str) -> None:
    """golang-migrate writes version -1 when a first migration is dirty."""
    query(fresh_db_url, GOLANG_MIGRATE_TABLE)
    query(fresh_db_url, "INSERT INTO schema_migrations VALUES (-1, true)")
    with engine(fresh_db_url) as e:
        assert (e.version().version, e.version().dirty) == (None, True)
        with pytest.raises(DirtyDatabaseError, match=r"dirty at version -1.*migrate force -1"):
            e.up()


@pytest.mark.parametrize(("version", "expected"), [(3, [(3, False)]), (1, [(1, False)]), (-1, [])])
def test_every_write_leaves_golang_migrates_single_row(
    fresh_db_url: str, version: int, expected: list[tuple[int, bool]]
) -> None:
    """State and history are written in one statement; the result is still one row (or none)."""
    query(fresh_db_url, GOLANG_MIGRATE_TABLE)
    query(fresh_db_url, "INSERT INTO schema_migrations VALUES (1, true), (5, false)")
    with engine(fresh_db_url) as e:
        e.force(version)
    assert state(fresh_db_url) == expected
    assert [h[:2] for h in history(fresh_db_url)] == [(version, "force")]
