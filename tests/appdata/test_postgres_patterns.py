"""The standards' PostgreSQL patterns, against real PostgreSQL at the newest migration."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from appdata import postgres as patterns
from devtools.postgres import Server
from tests.appdata.conftest import migrate
from tests.fixtures.postgres import new_database

SEED_USERS = 20_000


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _seed_user(
    conn: psycopg.Connection[Any], email: str, age_seconds: int, name: str = "x"
) -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO users (email, name, created_at) VALUES (%s, %s, now() - make_interval(secs => %s))"
        " RETURNING id",
        (email, name, age_seconds),
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def test_users_paginated_newest_first_with_total(pg: psycopg.Connection[Any]) -> None:
    ids = [_seed_user(pg, f"u{n}@example.com", age_seconds=100 - n) for n in range(7)]  # u6 newest

    first = patterns.list_users(pg, limit=3)
    second = patterns.list_users(pg, limit=3, offset=3)
    last = patterns.list_users(pg, limit=3, offset=6)

    assert first.total == second.total == last.total == 7
    assert [u.email for u in first.users] == ["u6@example.com", "u5@example.com", "u4@example.com"]
    assert [u.id for u in first.users + second.users + last.users] == ids[::-1]
    assert first.has_more and second.has_more and not last.has_more
    with pytest.raises(ValueError, match="limit"):
        patterns.list_users(pg, limit=0)


def test_post_with_author_in_one_query(pg: psycopg.Connection[Any]) -> None:
    user, post = patterns.create_user_with_post(
        pg, email="ann@example.com", name="Ann", title="Hello", content="..."
    )
    statements: list[str] = []

    class Counting(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            statements.append(str(query))
            return super().execute(query, params, **kwargs)

    pg.cursor_factory = Counting
    found = patterns.get_post_with_author(pg, post.id)

    assert found is not None
    assert (found.post.title, found.post.content, found.author.name) == ("Hello", "...", "Ann")
    assert found.author == user
    assert len(statements) == 1 and "JOIN users" in statements[0]  # no N+1
    assert patterns.get_post_with_author(pg, uuid.uuid4()) is None


def test_posts_by_author_email(pg: psycopg.Connection[Any]) -> None:
    user, _first = patterns.create_user_with_post(
        pg, email="ann@example.com", name="Ann", title="one"
    )
    pg.execute(
        "INSERT INTO posts (user_id, title, created_at) VALUES (%s, 'two', now() + interval '1 s')",
        (user.id,),
    )
    patterns.create_user_with_post(pg, email="bob@example.com", name="Bob", title="bob's")

    posts = patterns.posts_by_author_email(pg, "ann@example.com")

    assert [p.post.title for p in posts] == ["two", "one"]
    assert {p.author.email for p in posts} == {"ann@example.com"}
    assert patterns.posts_by_author_email(pg, "nobody@example.com") == []


def test_user_and_post_created_together(pg: psycopg.Connection[Any]) -> None:
    user, post = patterns.create_user_with_post(
        pg, email="ann@example.com", name="Ann", title="Hello"
    )

    assert post.user_id == user.id
    assert user.role == "user" and user.deleted_at is None
    assert (_count(pg, "users"), _count(pg, "posts")) == (1, 1)


@pytest.mark.parametrize(
    ("email", "title", "error"),
    [
        ("bob@example.com", "t" * 256, psycopg.errors.StringDataRightTruncation),  # the post fails
        ("not-an-email", "fine", psycopg.errors.CheckViolation),  # the user fails
        ("ann@example.com", "fine", psycopg.errors.UniqueViolation),  # duplicate email
    ],
)
def test_failed_create_leaves_neither_row(
    pg: psycopg.Connection[Any], email: str, title: str, error: type[Exception]
) -> None:
    patterns.create_user_with_post(pg, email="ann@example.com", name="Ann", title="first")

    with pytest.raises(error):
        patterns.create_user_with_post(pg, email=email, name="B", title=title)

    assert (_count(pg, "users"), _count(pg, "posts")) == (1, 1)


def test_failed_create_inside_a_callers_transaction_rolls_back_to_its_savepoint(
    pg: psycopg.Connection[Any],
) -> None:
    with pg.transaction():
        patterns.create_user_with_post(pg, email="ann@example.com", name="Ann", title="kept")
        with pytest.raises(psycopg.errors.StringDataRightTruncation):
            patterns.create_user_with_post(pg, email="bob@example.com", name="Bob", title="t" * 300)

    assert (_count(pg, "users"), _count(pg, "posts")) == (1, 1)


def test_soft_delete_hides_the_user_but_keeps_the_row(pg: psycopg.Connection[Any]) -> None:
    ann, post = patterns.create_user_with_post(pg, email="ann@example.com", name="Ann", title="p")
    patterns.create_user_with_post(pg, email="bob@example.com", name="Bob", title="q")

    assert patterns.soft_delete_user(pg, ann.id) is True
    assert patterns.soft_delete_user(pg, ann.id) is False  # already deleted
    assert patterns.soft_delete_user(pg, uuid.uuid4()) is False

    assert patterns.find_user_by_email(pg, "ann@example.com") is None
    assert patterns.get_user(pg, ann.id) is None
    deleted = patterns.get_user(pg, ann.id, include_deleted=True)
    assert deleted is not None and deleted.deleted_at is not None
    page = patterns.list_users(pg)
    assert [u.email for u in page.users] == ["bob@example.com"] and page.total == 1
    assert patterns.get_post_with_author(pg, post.id) is None
    assert patterns.posts_by_author_email(pg, "ann@example.com") == []
    assert _count(pg, "users") == 2  # soft: the row stays
    bob = patterns.find_user_by_email(pg, "bob@example.com")
    assert bob is not None and bob.name == "Bob"


# -- the planner uses the standards' indexes on a realistically sized table --------------


@pytest.fixture(scope="module")
def seeded(postgres_server: Server) -> Iterator[psycopg.Connection[Any]]:
    """20k users (1 in 10 soft-deleted), 3 posts each for the first 2000, ANALYZEd."""
    with new_database(postgres_server) as url:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO users (email, name, created_at, deleted_at)"
                " SELECT 'user' || i || '@example.com', 'User ' || i,"
                "        now() - make_interval(secs => i),"
                "        CASE WHEN i % 10 = 0 THEN now() END"
                f" FROM generate_series(1, {SEED_USERS}) AS i"
            )
            conn.execute(
                "INSERT INTO posts (user_id, title)"
                " SELECT u.id, 'post ' || n FROM users u, generate_series(1, 3) AS n"
                " WHERE u.email ~ '^user[0-9]{1,3}@' OR u.email ~ '^user1[0-9]{3}@'"
            )
            conn.execute("ANALYZE users")
            conn.execute("ANALYZE posts")
            yield conn


def _plan(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]) -> dict[str, Any]:
    row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
    assert row is not None
    document = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _indexes(plan: dict[str, Any]) -> set[str]:
    return {n["Index Name"] for n in _nodes(plan) if "Index Name" in n}


def _seq_scanned(plan: dict[str, Any]) -> set[str]:
    return {n["Relation Name"] for n in _nodes(plan) if n["Node Type"] == "Seq Scan"}


def test_seeded_table_is_big_enough(seeded: psycopg.Connection[Any]) -> None:
    assert _count(seeded, "users") == SEED_USERS
    assert _count(seeded, "posts") >= 3000


def test_email_lookup_uses_idx_users_email(seeded: psycopg.Connection[Any]) -> None:
    plan = _plan(seeded, patterns.FIND_USER_BY_EMAIL_SQL, {"email": "user123@example.com"})

    assert "idx_users_email" in _indexes(plan), json.dumps(plan, indent=1)
    assert _seq_scanned(plan) == set()
    found = patterns.find_user_by_email(seeded, "user123@example.com")
    assert found is not None and found.name == "User 123"


def test_user_id_join_uses_idx_posts_user_id(seeded: psycopg.Connection[Any]) -> None:
    plan = _plan(
        seeded, patterns.POSTS_BY_AUTHOR_EMAIL_SQL, {"email": "user42@example.com", "limit": 20}
    )

    assert {"idx_users_email", "idx_posts_user_id"} <= _indexes(plan), json.dumps(plan, indent=1)
    assert _seq_scanned(plan) == set()
    assert len(patterns.posts_by_author_email(seeded, "user42@example.com")) == 3


def test_newest_first_pagination_uses_idx_users_created(seeded: psycopg.Connection[Any]) -> None:
    plan = _plan(seeded, patterns.LIST_USERS_SQL, {"limit": 20, "offset": 40})

    assert "idx_users_created" in _indexes(plan), json.dumps(plan, indent=1)
    # Read in index order: at most an Incremental Sort that orders created_at ties by id.
    assert not any(n["Node Type"] == "Sort" for n in _nodes(plan))
    assert _seq_scanned(plan) == set()
    page = patterns.list_users(seeded, limit=20, offset=40)
    assert page.total == SEED_USERS - SEED_USERS // 10
    assert [u.name for u in page.users][:2] == ["User 45", "User 46"]  # 1..44 minus 10, 20, 30, 40
