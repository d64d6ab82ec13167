"""Finding and creating migration files with golang-migrate's naming rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbmigrate.errors import InvalidRequestError, MigrationSourceError
from dbmigrate.source import create_migration, find_migrations
from tests.migrations._helpers import MIGRATIONS, write


def test_repository_migrations_are_four_pairs() -> None:
    found = find_migrations(MIGRATIONS)
    assert [(m.version, m.name) for m in found] == [
        (1, "create_users_table"),
        (2, "add_updated_at_trigger"),
        (3, "create_posts_table"),
        (4, "create_tags"),
    ]
    assert all(m.down is not None for m in found)


def test_non_sql_files_that_do_not_match_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "notes")
    write(tmp_path, ".hidden.sql", "")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "junk.sql", "")
    write(tmp_path, "000001_a.up.sql", "SELECT 1;")
    assert [m.version for m in find_migrations(tmp_path)] == [1]


def test_misnamed_sql_file_is_an_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path, "000001_a.up.sql", "SELECT 1;")
    write(tmp_path, "add_orders.sql", "SELECT 1;")
    with pytest.raises(MigrationSourceError, match=r"add_orders\.sql: not a migration file name"):
        find_migrations(tmp_path)


def test_matching_name_with_other_extension_is_an_error(tmp_path: Path) -> None:
    # golang-migrate would run this file; silently skipping it would make the tools disagree.
    write(tmp_path, "000001_a.up.sql.bak", "SELECT 1;")
    with pytest.raises(MigrationSourceError, match=r"000001_a\.up\.sql\.bak: .*end in \.up\.sql"):
        find_migrations(tmp_path)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("000001_a.up.sql", "1_b.up.sql"),
        ("000001_a.up.sql", "000001_b.down.sql"),
        ("000002_x.down.sql", "2_x.down.sql"),
    ],
)
def test_duplicate_version_is_an_error(tmp_path: Path, first: str, second: str) -> None:
    write(tmp_path, first, "SELECT 1;")
    write(tmp_path, second, "SELECT 1;")
    with pytest.raises(MigrationSourceError, match=r"duplicate version \d"):
        find_migrations(tmp_path)


def test_down_without_up_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "000001_a.up.sql", "SELECT 1;")
    write(tmp_path, "000002_b.down.sql", "SELECT 1;")
    with pytest.raises(
        MigrationSourceError, match=r"000002_b\.down\.sql: down file without an up file"
    ):
        find_migrations(tmp_path)


def test_up_without_down_is_a_forward_only_migration(tmp_path: Path) -> None:
    write(tmp_path, "000001_a.up.sql", "SELECT 1;")
    (found,) = find_migrations(tmp_path)
    assert found.down is None


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationSourceError, match="does not exist"):
        find_migrations(tmp_path / "nope")


def test_create_makes_the_next_zero_padded_pair(tmp_path: Path) -> None:
    write(tmp_path, "000001_a.up.sql", "SELECT 1;")
    write(tmp_path, "000009_b.up.sql", "SELECT 1;")
    up, down = create_migration(tmp_path, "add_orders")
    assert (up.name, down.name) == ("000010_add_orders.up.sql", "000010_add_orders.down.sql")
    assert up.read_text() == "" and down.read_text() == ""
    assert [m.version for m in find_migrations(tmp_path)] == [1, 9, 10]


def test_create_in_a_new_directory_starts_at_one(tmp_path: Path) -> None:
    up, _ = create_migration(tmp_path / "new", "init")
    assert up.name == "000001_init.up.sql"


@pytest.mark.parametrize("name", ["", "Add Orders", "../escape", "x" * 101, "_lead", "a-b"])
def test_create_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidRequestError, match="invalid migration name"):
        create_migration(tmp_path, name)
    assert list(tmp_path.iterdir()) == []
