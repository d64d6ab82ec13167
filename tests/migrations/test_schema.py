"""The standards' schema, as the migrations create it, behaves as the standards intend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from devtools.postgres import Server as PostgresServer
from tests.fixtures.postgres import new_database
from tests.migrations._helpers import engine, query, schema_dump, tables

STANDARDS_EMAIL_REGEX = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$"


@pytest.fixture(scope="module")
def schema_url(postgres_server: PostgresServer) -> Iterator[str]:
    """One database migrated to the newest version, shared by this module's tests."""
    with new_database(postgres_server) as url:
        with engine(url) as e:
            assert e.up().end_version == 4
        yield url


@pytest.fixture
def db(schema_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection inside a transaction that is rolled back after the test: no test sees
    another's rows. Expected errors are raised inside ``db.transaction()`` (a savepoint)."""
    with psycopg.connect(schema_url) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


def add_user(conn: psycopg.Connection[Any], email: str, name: str = "Ann") -> Any:
    row = conn.execute(
        "INSERT INTO users (email, name) VALUES (%s, %s) RETURNING id", (email, name)
    ).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize(
    "email",
    ["ann@example.com", "a.b+c_d%e-f@sub.example.co.uk", "X@Y.IO", "ann@example.museum"],
)
def test_valid_emails_are_accepted(db: psycopg.Connection[Any], email: str) -> None:
    add_user(db, email)


@pytest.mark.parametrize(
    "email",
    [
        "ann@example.c|m",  # the standards' [A-Z|a-z] bug admitted this
        "ann@example.|com",
        "ann@example.c",
        "ann@example",
        "ann.example.com",
        "ann@exa mple.com",
        "@example.com",
        "ann@example.com ",
    ],
)
def test_invalid_emails_are_rejected(db: psycopg.Connection[Any], email: str) -> None:
    with pytest.raises(errors.CheckViolation, match="valid_email"), db.transaction():
        add_user(db, email)


def test_the_standards_regex_really_had_the_pipe_bug(db: psycopg.Connection[Any]) -> None:
    """Guards the test above: with the original pattern the '|' address would have passed."""
    row = db.execute("SELECT %s ~* %s", ("ann@example.c|m", STANDARDS_EMAIL_REGEX)).fetchone()
    assert row == (True,)


def test_defaults_and_constraints(db: psycopg.Connection[Any]) -> None:
    user_id = add_user(db, "ann@example.com")
    row = db.execute(
        "SELECT role, created_at IS NOT NULL, updated_at IS NOT NULL, deleted_at FROM users "
        "WHERE id = %s",
        (user_id,),
    ).fetchone()
    assert row == ("user", True, True, None)
    with pytest.raises(errors.UniqueViolation, match="users_email_key"), db.transaction():
        add_user(db, "ann@example.com", "Other Ann")
    with pytest.raises(errors.NotNullViolation), db.transaction():
        db.execute("INSERT INTO users (email) VALUES ('bob@example.com')")
    db.execute("UPDATE users SET cognito_id = 'c-1' WHERE id = %s", (user_id,))
    with pytest.raises(errors.UniqueViolation, match="users_cognito_id_key"), db.transaction():
        db.execute("INSERT INTO users (email, name, cognito_id) VALUES ('c@x.io', 'C', 'c-1')")


def test_indexes_match_the_standards(db: psycopg.Connection[Any]) -> None:
    rows = db.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    ).fetchall()
    defs = dict(rows)
    assert defs["idx_users_email"].endswith("(email) WHERE (deleted_at IS NULL)")
    assert defs["idx_users_cognito"].endswith("(cognito_id) WHERE (deleted_at IS NULL)")
    assert defs["idx_users_created"].endswith("(created_at DESC)")
    assert defs["idx_posts_user_id"].endswith("(user_id)")
    assert defs["post_tags_pkey"].endswith("(post_id, tag_id)")


def test_update_trigger_moves_updated_at(db: psycopg.Connection[Any]) -> None:
    row = db.execute(
        "INSERT INTO users (email, name, created_at, updated_at) "
        "VALUES ('ann@example.com', 'Ann', '2000-01-01', '2000-01-01') RETURNING id"
    ).fetchone()
    assert row is not None
    # The application even tries to keep the old value: the trigger wins. (One transaction:
    # now() is its start time, which is what the trigger must have written.)
    db.execute(
        "UPDATE users SET name = 'Ann B', updated_at = '2000-01-01' WHERE id = %s", (row[0],)
    )
    after = db.execute(
        "SELECT created_at = '2000-01-01', updated_at = now() FROM users WHERE id = %s",
        (row[0],),
    ).fetchone()
    assert after == (True, True)


def test_deletes_cascade_users_posts_post_tags(db: psycopg.Connection[Any]) -> None:
    ann, bob = add_user(db, "ann@example.com"), add_user(db, "bob@example.com", "Bob")

    def post(user: Any) -> Any:
        row = db.execute(
            "INSERT INTO posts (user_id, title) VALUES (%s, 't') RETURNING id", (user,)
        ).fetchone()
        assert row is not None
        return row[0]

    ann_post, bob_post = post(ann), post(bob)
    tag_ids = [
        r[0]
        for r in db.execute("INSERT INTO tags (name) VALUES ('a'), ('b') RETURNING id").fetchall()
    ]
    for post_id in (ann_post, bob_post):
        for tag_id in tag_ids:
            db.execute("INSERT INTO post_tags VALUES (%s, %s)", (post_id, tag_id))

    def count(sql: str) -> int:
        row = db.execute(sql).fetchone()
        assert row is not None
        return int(row[0])

    db.execute("DELETE FROM users WHERE id = %s", (ann,))
    assert count("SELECT count(*) FROM posts") == 1
    assert count("SELECT count(*) FROM post_tags") == 2
    assert count("SELECT count(*) FROM tags") == 2  # tags are not owned by posts
    db.execute("DELETE FROM tags WHERE id = %s", (tag_ids[0],))
    assert count("SELECT count(*) FROM post_tags") == 1
    assert count("SELECT count(*) FROM posts") == 1
    with pytest.raises(errors.ForeignKeyViolation), db.transaction():
        post("00000000-0000-0000-0000-000000000000")


def test_down_all_then_up_restores_the_same_schema(
    fresh_db_url: str, postgres_server: PostgresServer
) -> None:
    def dump() -> str:
        return schema_dump(postgres_server.tool("pg_dump"), fresh_db_url)

    with engine(fresh_db_url) as e:
        e.up()
        first = dump()
        assert e.down_all().end_version is None
        assert tables(fresh_db_url) == {"schema_migrations", "schema_migrations_history"}
        assert query(
            fresh_db_url,
            "SELECT count(*) FROM pg_proc WHERE proname = 'update_updated_at_column'",
        ) == [(0,)]
        assert query(fresh_db_url, "SELECT count(*) FROM schema_migrations") == [(0,)]
        e.up()
    second = dump()
    assert "CREATE TABLE public.post_tags" in first
    assert second == first
