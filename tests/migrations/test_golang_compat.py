"""The state this engine keeps is golang-migrate's own, and it continues from the real CLI's.

The CLI's side, command by command, is in test_golang_migrate.py.
"""

from __future__ import annotations

import pytest

from tests.fixtures.golang_migrate import GolangMigrate
from tests.migrations._helpers import MIGRATIONS, engine, history, query, state, tables

# Exactly what golang-migrate's postgres driver creates.
GOLANG_MIGRATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version bigint not null primary key, dirty boolean not null)"
)


@pytest.mark.parametrize("left_at", [1, 2, 3])
def test_continue_a_golang_migrate_database(
    golang_migrate: GolangMigrate, fresh_db_url: str, left_at: int
) -> None:
    golang_migrate.ok(fresh_db_url, MIGRATIONS, "up", str(left_at))
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
