"""The real golang-migrate CLI and this engine on one database, in either order.

Every command is what the database standards tell a developer to type
(``migrate -path DIR -database URL up``, ``down 1``, ``version``, ``force V``,
``migrate create -ext sql -dir DIR -seq NAME``), run with the binary built by
``devtools.gotools``, against real PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbmigrate.hints import DIRTY_CAUSE
from devtools.postgres import Server
from tests.fixtures.golang_migrate import GolangMigrate
from tests.fixtures.postgres import new_database
from tests.migrations._helpers import (
    cli,
    copy_standard,
    history,
    one_error_line,
    query,
    schema_dump,
    state,
    tables,
    write,
)

NEWER = (
    "000005_add_user_bio.up.sql",
    "ALTER TABLE users ADD COLUMN bio text;",
    "ALTER TABLE users DROP COLUMN bio;",
)


def add_newer(directory: Path) -> None:
    name, up, down = NEWER
    write(directory, name, up)
    write(directory, name.replace(".up.", ".down."), down)


def ops_version(url: str, directory: Path) -> str:
    """What ``python -m ops migrate version`` prints, as golang-migrate would: ``N (dirty)``."""
    done = cli("version", "--dir", str(directory), url=url)
    return done.stdout.strip()


def test_golang_migrate_first_then_the_engine(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    directory = copy_standard(tmp_path / "migrations")
    golang_migrate.ok(fresh_db_url, directory, "up")
    assert golang_migrate.version(fresh_db_url, directory) == "4"
    assert ops_version(fresh_db_url, directory) == "4"
    plan = cli("plan", "--dir", str(directory), url=fresh_db_url)
    assert plan.returncode == 0 and plan.stdout.strip() == "no change: up to date"

    add_newer(directory)
    plan = cli("plan", "--dir", str(directory), url=fresh_db_url)
    assert plan.stdout.splitlines()[0] == f"pending: {NEWER[0]}"
    up = cli("up", "--dir", str(directory), url=fresh_db_url)
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == "applied 1 migration(s) up; now at 5"
    assert golang_migrate.version(fresh_db_url, directory) == "5"
    # The files golang-migrate applied have no checksum on record; the engine's has one.
    assert [(v, d, c is not None) for v, d, c in history(fresh_db_url)] == [(5, "up", True)]


def test_the_engine_first_then_golang_migrate_up_and_down(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    directory = copy_standard(tmp_path / "migrations")
    add_newer(directory)
    assert cli("up", "2", "--dir", str(directory), url=fresh_db_url).returncode == 0
    steps = [
        (("up",), "5"),
        (("down", "1"), "4"),
        (("down", "1"), "3"),
        (("up", "1"), "4"),
    ]
    assert golang_migrate.version(fresh_db_url, directory) == "2"
    for args, expected in steps:
        golang_migrate.ok(fresh_db_url, directory, *args)
        assert golang_migrate.version(fresh_db_url, directory) == expected, args
        assert ops_version(fresh_db_url, directory) == expected, args
    # golang-migrate leaves the engine's history table alone and keeps one state row.
    assert "schema_migrations_history" in tables(fresh_db_url)
    assert state(fresh_db_url) == [(4, False)]
    assert "bio" not in {r[0] for r in query(fresh_db_url, _USER_COLUMNS)}
    up = cli("up", "--dir", str(directory), url=fresh_db_url)
    assert up.stdout.strip() == "applied 1 migration(s) up; now at 5"
    assert "bio" in {r[0] for r in query(fresh_db_url, _USER_COLUMNS)}


_USER_COLUMNS = "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"


@pytest.mark.parametrize("existing", [0, 4])
def test_create_names_the_same_next_files(
    golang_migrate: GolangMigrate, tmp_path: Path, existing: int
) -> None:
    theirs = copy_standard(tmp_path / "theirs", upto=existing)
    ours = copy_standard(tmp_path / "ours", upto=existing)
    for name in ("add_orders", "add_order_items"):
        done = golang_migrate.run_plain("create", "-ext", "sql", "-dir", str(theirs), "-seq", name)
        assert done.returncode == 0, done.stderr
        created = cli("create", name, "--dir", str(ours))
        assert created.returncode == 0, created.stderr
    names = sorted(p.name for p in theirs.iterdir())
    assert names == sorted(p.name for p in ours.iterdir())
    assert f"{existing + 2:06d}_add_order_items.down.sql" in names


def two_then_a_broken_file(tmp_path: Path) -> tuple[Path, Path]:
    """The standards' first two files, then a third that fails on its only statement."""
    directory = copy_standard(tmp_path / "migrations", upto=2)
    broken = write(
        directory, "000003_broken.up.sql", "CREATE TABLE posts (id int REFERENCES nope);"
    )
    write(directory, "000003_broken.down.sql", "DROP TABLE posts;")
    return directory, broken


def test_a_file_failing_under_golang_migrate_is_dirty_for_the_engine_until_migrate_force(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    directory, broken = two_then_a_broken_file(tmp_path)
    failed = golang_migrate.run(fresh_db_url, directory, "up")
    assert failed.returncode != 0 and 'relation "nope" does not exist' in failed.stderr
    assert golang_migrate.version(fresh_db_url, directory) == "3 (dirty)"

    refused = cli("up", "--dir", str(directory), url=fresh_db_url)
    assert refused.returncode == 3
    assert one_error_line(refused) == (
        "error: database is dirty at version 3 (" + DIRTY_CAUSE + "): "
        "fix the schema by hand, then run `python -m ops migrate force 3` "
        f"(or `python -m ops migrate force 2` to re-run {broken.name})"
    )
    assert ops_version(fresh_db_url, directory) == "3 (dirty)"

    broken.write_text("CREATE TABLE posts (id int);")
    golang_migrate.ok(fresh_db_url, directory, "force", "2")
    up = cli("up", "--dir", str(directory), url=fresh_db_url)
    assert up.returncode == 0, up.stderr
    assert state(fresh_db_url) == [(3, False)] and "posts" in tables(fresh_db_url)


def test_after_the_engines_force_golang_migrate_continues(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    directory, broken = two_then_a_broken_file(tmp_path)
    assert golang_migrate.run(fresh_db_url, directory, "up").returncode != 0
    broken.write_text("CREATE TABLE posts (id int);")
    forced = cli("force", "2", "--dir", str(directory), url=fresh_db_url)
    assert forced.returncode == 0 and forced.stdout.strip() == "forced version 2"
    assert golang_migrate.version(fresh_db_url, directory) == "2"
    golang_migrate.ok(fresh_db_url, directory, "up")
    assert golang_migrate.version(fresh_db_url, directory) == "3"
    assert ops_version(fresh_db_url, directory) == "3"


def test_a_failing_first_down_leaves_golang_migrates_no_version_dirty_row(
    golang_migrate: GolangMigrate, fresh_db_url: str, tmp_path: Path
) -> None:
    """golang-migrate records version -1 (its "nil") when the first migration's down fails."""
    directory = copy_standard(tmp_path / "migrations", upto=1)
    down = directory / "000001_create_users_table.down.sql"
    down.write_text("DROP TABLE nope;")
    golang_migrate.ok(fresh_db_url, directory, "up")
    assert golang_migrate.run(fresh_db_url, directory, "down", "1").returncode != 0
    assert state(fresh_db_url) == [(-1, True)]
    refused = cli("up", "--dir", str(directory), url=fresh_db_url)
    assert refused.returncode == 3
    assert "dirty at version -1" in one_error_line(refused)
    assert "`python -m ops migrate force -1`" in refused.stderr


def test_both_tools_down_migrations_leave_the_same_schema(
    golang_migrate: GolangMigrate,
    postgres_server: Server,
    fresh_db_url: str,
    tmp_path: Path,
) -> None:
    directory = copy_standard(tmp_path / "migrations")
    add_newer(directory)
    pg_dump = postgres_server.tool("pg_dump")
    with new_database(postgres_server) as other_url:
        for url in (fresh_db_url, other_url):
            assert cli("up", "--dir", str(directory), url=url).returncode == 0
        for n in ("1", "2"):  # 5, then 4 and 3: a column, a trigger-free table, a join table
            assert cli("down", n, "--dir", str(directory), url=fresh_db_url).returncode == 0
            golang_migrate.ok(other_url, directory, "down", n)
            ours = schema_dump(pg_dump, fresh_db_url, exclude=("schema_migrations_history",))
            theirs = schema_dump(pg_dump, other_url, exclude=("schema_migrations_history",))
            assert ours == theirs
        assert state(fresh_db_url) == state(other_url) == [(2, False)]
    assert "CREATE TABLE public.users" in ours and "posts" not in ours
