"""The standards' PostgreSQL query patterns on the migrated schema, over psycopg 3.

Each function takes an open ``psycopg.Connection`` and leaves transaction
control to it, except `create_user_with_post` and `list_users`, which run in
their own transaction (a savepoint when the caller already has one open).

* `list_users`: newest first (``ORDER BY created_at DESC``, idx_users_created),
  limit/offset, with the total count; soft-deleted users excluded.
* `find_user_by_email`: ``deleted_at IS NULL`` matches idx_users_email's
  predicate, so the partial index serves the lookup.
* `get_post_with_author`, `posts_by_author_email`: the post and its author in
  one JOIN (no N+1); the latter joins on ``posts.user_id`` (idx_posts_user_id).
* `create_user_with_post`: both rows or neither.
* `soft_delete_user`: sets ``deleted_at``; every read here then ignores the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from appdata.paging import UserPage

MAX_PAGE_SIZE = 100

_USER_COLUMNS = (
    "u.id, u.email, u.name, u.role, u.cognito_id, u.created_at, u.updated_at, u.deleted_at"
)
_POST_COLUMNS = "p.id, p.user_id, p.title, p.content, p.created_at"


@dataclass(frozen=True)
class User:
    id: UUID
    email: str
    name: str
    role: str | None
    cognito_id: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class Post:
    id: UUID
    user_id: UUID
    title: str
    content: str | None
    created_at: datetime


@dataclass(frozen=True)
class PostWithAuthor:
    post: Post
    author: User


def _user(row: dict[str, Any], prefix: str = "") -> User:
    return User(
        id=row[f"{prefix}id"],
        email=row[f"{prefix}email"],
        name=row[f"{prefix}name"],
        role=row[f"{prefix}role"],
        cognito_id=row[f"{prefix}cognito_id"],
        created_at=row[f"{prefix}created_at"],
        updated_at=row[f"{prefix}updated_at"],
        deleted_at=row[f"{prefix}deleted_at"],
    )


def _post(row: dict[str, Any], prefix: str = "") -> Post:
    return Post(
        id=row[f"{prefix}id"],
        user_id=row[f"{prefix}user_id"],
        title=row[f"{prefix}title"],
        content=row[f"{prefix}content"],
        created_at=row[f"{prefix}created_at"],
    )


# The statements, public so that tests can EXPLAIN exactly what runs.
COUNT_USERS_SQL = "SELECT count(*) AS total FROM users u WHERE u.deleted_at IS NULL"
LIST_USERS_SQL = f"""
    SELECT {_USER_COLUMNS} FROM users u
    WHERE u.deleted_at IS NULL
    ORDER BY u.created_at DESC, u.id
    LIMIT %(limit)s OFFSET %(offset)s
"""
FIND_USER_BY_EMAIL_SQL = f"""
    SELECT {_USER_COLUMNS} FROM users u WHERE u.email = %(email)s AND u.deleted_at IS NULL
"""
_JOINED_COLUMNS = (
    "p.id AS p_id, p.user_id AS p_user_id, p.title AS p_title, p.content AS p_content,"
    " p.created_at AS p_created_at,"
    " u.id AS u_id, u.email AS u_email, u.name AS u_name, u.role AS u_role,"
    " u.cognito_id AS u_cognito_id, u.created_at AS u_created_at,"
    " u.updated_at AS u_updated_at, u.deleted_at AS u_deleted_at"
)
POST_WITH_AUTHOR_SQL = f"""
    SELECT {_JOINED_COLUMNS} FROM posts p JOIN users u ON u.id = p.user_id
    WHERE p.id = %(post_id)s AND u.deleted_at IS NULL
"""
POSTS_BY_AUTHOR_EMAIL_SQL = f"""
    SELECT {_JOINED_COLUMNS} FROM users u JOIN posts p ON p.user_id = u.id
    WHERE u.email = %(email)s AND u.deleted_at IS NULL
    ORDER BY p.created_at DESC
    LIMIT %(limit)s
"""


def list_users(
    conn: psycopg.Connection[Any], *, limit: int = 20, offset: int = 0
) -> UserPage[User]:
    """One page of live users, newest first, and how many there are in total.

    The count and the page are read in one transaction; the page itself walks
    idx_users_created and stops after ``offset + limit`` rows.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be within 1..{MAX_PAGE_SIZE}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(COUNT_USERS_SQL)
        count_row = cur.fetchone()
        total = int(count_row["total"]) if count_row else 0
        cur.execute(LIST_USERS_SQL, {"limit": limit, "offset": offset})
        users = [_user(row) for row in cur.fetchall()]
    return UserPage(users=users, total=total, limit=limit, offset=offset)


def find_user_by_email(conn: psycopg.Connection[Any], email: str) -> User | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(FIND_USER_BY_EMAIL_SQL, {"email": email})
        row = cur.fetchone()
    return _user(row) if row else None


def get_user(
    conn: psycopg.Connection[Any], user_id: UUID, *, include_deleted: bool = False
) -> User | None:
    where = "" if include_deleted else " AND u.deleted_at IS NULL"
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = %(id)s{where}", {"id": user_id}
        )
        row = cur.fetchone()
    return _user(row) if row else None


def get_post_with_author(conn: psycopg.Connection[Any], post_id: UUID) -> PostWithAuthor | None:
    """The post and its (live) author in one query."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(POST_WITH_AUTHOR_SQL, {"post_id": post_id})
        row = cur.fetchone()
    return PostWithAuthor(_post(row, "p_"), _user(row, "u_")) if row else None


def posts_by_author_email(
    conn: psycopg.Connection[Any], email: str, *, limit: int = 20
) -> list[PostWithAuthor]:
    """A live user's posts with the author, newest first, in one JOIN on posts.user_id."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be within 1..{MAX_PAGE_SIZE}, got {limit}")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(POSTS_BY_AUTHOR_EMAIL_SQL, {"email": email, "limit": limit})
        rows = cur.fetchall()
    return [PostWithAuthor(_post(r, "p_"), _user(r, "u_")) for r in rows]


def create_user_with_post(
    conn: psycopg.Connection[Any],
    *,
    email: str,
    name: str,
    title: str,
    content: str | None = None,
    role: str = "user",
) -> tuple[User, Post]:
    """Insert a user and their first post in one transaction: a failure of either
    (duplicate email, invalid email, too long a title, ...) leaves neither row."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "INSERT INTO users AS u (email, name, role) VALUES (%(email)s, %(name)s, %(role)s)"
            f" RETURNING {_USER_COLUMNS}",
            {"email": email, "name": name, "role": role},
        )
        user_row = cur.fetchone()
        assert user_row is not None  # INSERT ... RETURNING gives the row
        user = _user(user_row)
        cur.execute(
            "INSERT INTO posts AS p (user_id, title, content)"
            " VALUES (%(user_id)s, %(title)s, %(content)s)"
            f" RETURNING {_POST_COLUMNS}",
            {"user_id": user.id, "title": title, "content": content},
        )
        post_row = cur.fetchone()
        assert post_row is not None
        return user, _post(post_row)


def soft_delete_user(conn: psycopg.Connection[Any], user_id: UUID) -> bool:
    """Mark the user deleted (``deleted_at = now()``); False if absent or already deleted.

    The row stays (and so do its posts); the reads in this module skip it. Its
    email stays taken: the schema's UNIQUE constraint on email is not partial.
    """
    return soft_delete_user_returning_email(conn, user_id) is not None


def soft_delete_user_returning_email(conn: psycopg.Connection[Any], user_id: UUID) -> str | None:
    """`soft_delete_user`, answering the deleted user's email (None: nothing deleted), which
    a cache keyed by email must forget."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE users SET deleted_at = now() WHERE id = %(id)s AND deleted_at IS NULL"
            " RETURNING email",
            {"id": user_id},
        )
        row = cur.fetchone()
    return str(row[0]) if row else None


UPDATE_USER_SQL = f"""
    UPDATE users u SET {{assignments}}
    FROM (SELECT id, email FROM users WHERE id = %(id)s AND deleted_at IS NULL FOR UPDATE) old
    WHERE u.id = old.id
    RETURNING {_USER_COLUMNS}, old.email AS previous_email
"""


def update_user(
    conn: psycopg.Connection[Any],
    user_id: UUID,
    *,
    email: str | None = None,
    name: str | None = None,
    role: str | None = None,
) -> tuple[User, str] | None:
    """Set the given fields of a live user; (the user as stored now, the email it had before),
    or None when there is no such live user. ``updated_at`` moves by the schema's trigger."""
    changes = {
        column: value
        for column, value in (("email", email), ("name", name), ("role", role))
        if value is not None
    }
    if not changes:
        raise ValueError("update_user needs at least one of email, name, role")
    assignments = ", ".join(f"{column} = %({column})s" for column in changes)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            UPDATE_USER_SQL.format(assignments=assignments),  # columns from the fixed list above
            {"id": user_id, **changes},
        )
        row = cur.fetchone()
    return (_user(row), str(row["previous_email"])) if row else None
