"""The migration engine over the Data API transport, as the Lambda runs it.

Engine -> DataApiTransport -> boto3 -> HTTP -> emulator -> PostgreSQL, with
the repository's own migrations compiled by dbmigrate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dbmigrate.compile import compile_directory
from dbmigrate.engine import Engine
from tests.fixtures.data_api import DataApiEndpoint

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

# Slow enough per row that CREATE INDEX CONCURRENTLY (two table scans) outlasts
# the emulator's short call limit, as a big table would outlast the real 45 s.
SLOW_SETUP = """\
CREATE FUNCTION slow_lower(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM pg_sleep(0.15);
    RETURN lower(t);
END;
$$;
INSERT INTO tags (name) VALUES ('a'), ('b'), ('c'), ('d');
"""
SLOW_INDEX = """\
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY idx_tags_slow ON tags (slow_lower(name));
"""


def test_engine_applies_the_repository_migrations_then_does_nothing(
    data_api: DataApiEndpoint,
) -> None:
    bundle = compile_directory(MIGRATIONS)
    transport = data_api.transport()

    first = Engine(transport, bundle).up()
    second = Engine(transport, bundle).up()

    assert first.applied_versions == bundle.versions
    assert second.applied == ()
    assert second.end_version == bundle.versions[-1]
    assert transport.execute("SELECT version, dirty FROM schema_migrations") == [
        (bundle.versions[-1], False)
    ]
    tables = transport.execute(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
        " WHERE schemaname = 'public' AND tablename NOT LIKE 'schema_migrations%'"
    )
    assert tables == [("post_tags,posts,tags,users",)]


def test_non_transactional_migration_outlasting_the_call_is_awaited(
    data_api_short_timeout: DataApiEndpoint, tmp_path: Path
) -> None:
    for path in MIGRATIONS.glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "000005_slow_lower.up.sql").write_text(SLOW_SETUP)
    (tmp_path / "000006_slow_index.up.sql").write_text(SLOW_INDEX)
    transport = data_api_short_timeout.transport(poll_interval=0.05)

    result = Engine(transport, compile_directory(tmp_path)).up()

    assert result.applied_versions[-2:] == (5, 6)
    assert transport.execute("SELECT version, dirty FROM schema_migrations") == [(6, False)]
    assert transport.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_tags_slow'::regclass"
    ) == [(True,)]
