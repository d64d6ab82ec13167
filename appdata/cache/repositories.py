"""The standards' hot reads through the cache, and every write path that must invalidate.

* `CachedProfiles`: the DynamoDB user profile (``USER#<id>`` / ``PROFILE``).
* `CachedUsers`: the PostgreSQL user by id and by email (two entries per user).
* `CachedPreferences`: the MongoDB user's ``preferences`` (the standards' settings
  document: ``{theme, notifications}`` in the user's document).

Each write goes to the store first and invalidates after it has committed
(see `appdata.cache.core` for why invalidate, not update). A PostgreSQL write
must therefore run outside the caller's transaction: `CachedUsers` refuses one
inside, since invalidating before the commit would let a reader cache the
uncommitted past for a whole TTL.

Loads read the store's latest committed state, as the versioned fill requires:
DynamoDB with ``ConsistentRead`` (a miss costs a strongly consistent read);
PostgreSQL in a transaction of its own, and not through the cache at all when
the caller's transaction is open (its snapshot may predate committed writes,
its own writes may yet roll back); MongoDB through the client's read
preference, which must be the primary (the default), and the PostgreSQL
connection must be the writer's, not a reader endpoint's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
from psycopg.pq import TransactionStatus

from appdata import postgres
from appdata.cache.codec import DataclassCodec, JsonCodec
from appdata.cache.core import ReadThroughCache
from appdata.cache.keys import EntryKind
from appdata.dynamo import AppDataRepository, Item
from appdata.mongo import Preferences, UserNotFoundError, Users

PROFILE_TTL_SECONDS = 300.0
NOT_FOUND_TTL_SECONDS = 30.0

PROFILE: EntryKind[Item] = EntryKind(
    "dynamodb-profile", 1, JsonCodec(), PROFILE_TTL_SECONDS, NOT_FOUND_TTL_SECONDS
)
USER_BY_ID: EntryKind[postgres.User] = EntryKind(
    "postgres-user-id", 1, DataclassCodec(postgres.User), PROFILE_TTL_SECONDS, NOT_FOUND_TTL_SECONDS
)
USER_BY_EMAIL: EntryKind[postgres.User] = EntryKind(
    "postgres-user-email",
    1,
    DataclassCodec(postgres.User),
    PROFILE_TTL_SECONDS,
    NOT_FOUND_TTL_SECONDS,
)
PREFERENCES: EntryKind[Preferences] = EntryKind(
    "mongo-preferences", 1, DataclassCodec(Preferences), PROFILE_TTL_SECONDS, NOT_FOUND_TTL_SECONDS
)


class CacheUsageError(RuntimeError):
    """A write through the cache that could not be invalidated correctly."""


class CachedProfiles:
    """`AppDataRepository`'s profile reads and writes, through the cache."""

    def __init__(self, repository: AppDataRepository, cache: ReadThroughCache) -> None:
        self.repository = repository
        self.cache = cache

    def get_user_profile(self, user_id: str) -> Item | None:
        return self.cache.get(  # type: ignore[no-any-return]
            PROFILE, user_id, lambda: self.repository.get_user_profile(user_id, consistent=True)
        )

    def create_user(self, user_id: str, **fields: Any) -> Item:
        """Also forgets a cached "no such user"."""
        item = self.repository.create_user(user_id, **fields)
        self.cache.invalidate(PROFILE, user_id)
        return item

    def update_user_profile(self, user_id: str, **changes: Any) -> Item:
        try:
            return self.repository.update_user_profile(user_id, **changes)
        finally:  # even when the update failed: whatever the store holds now is the truth
            self.cache.invalidate(PROFILE, user_id)


class CachedUsers:
    """`appdata.postgres`'s user reads by id and by email, and its user writes."""

    def __init__(self, cache: ReadThroughCache) -> None:
        self.cache = cache

    def get_user(self, conn: psycopg.Connection[Any], user_id: UUID) -> postgres.User | None:
        return self._read(conn, USER_BY_ID, str(user_id), lambda: postgres.get_user(conn, user_id))

    def find_user_by_email(self, conn: psycopg.Connection[Any], email: str) -> postgres.User | None:
        return self._read(
            conn, USER_BY_EMAIL, email, lambda: postgres.find_user_by_email(conn, email)
        )

    def _read(
        self,
        conn: psycopg.Connection[Any],
        kind: EntryKind[postgres.User],
        key: str,
        load: Callable[[], postgres.User | None],
    ) -> postgres.User | None:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            self.cache.stats.add("bypassed")  # the caller's transaction: neither cached nor shared
            return load()
        if conn.autocommit:
            return self.cache.get(kind, key, load)  # type: ignore[no-any-return]

        def committed() -> postgres.User | None:
            with conn.transaction():  # a fresh snapshot, committed: the connection stays idle
                return load()

        return self.cache.get(kind, key, committed)  # type: ignore[no-any-return]

    def create_user_with_post(
        self, conn: psycopg.Connection[Any], **fields: Any
    ) -> tuple[postgres.User, postgres.Post]:
        _outside_transaction(conn, "create_user_with_post")
        user, post = postgres.create_user_with_post(conn, **fields)
        self._forget(user.id, user.email)
        return user, post

    def update_user(
        self, conn: psycopg.Connection[Any], user_id: UUID, **changes: Any
    ) -> postgres.User | None:
        _outside_transaction(conn, "update_user")
        updated = None
        try:
            with conn.transaction():
                updated = postgres.update_user(conn, user_id, **changes)
        finally:  # also when the commit's outcome is unknown: the entries may be wrong now
            previous = updated[1] if updated else None
            self._forget(user_id, *(e for e in (previous, changes.get("email")) if e))
        return updated[0] if updated else None

    def soft_delete_user(self, conn: psycopg.Connection[Any], user_id: UUID) -> bool:
        _outside_transaction(conn, "soft_delete_user")
        with conn.transaction():
            email = postgres.soft_delete_user_returning_email(conn, user_id)
        if email is None:
            return False
        self._forget(user_id, email)
        return True

    def _forget(self, user_id: UUID, *emails: str) -> None:
        self.cache.invalidate(USER_BY_ID, str(user_id))
        if emails:
            self.cache.invalidate(USER_BY_EMAIL, *dict.fromkeys(emails))


def _outside_transaction(conn: psycopg.Connection[Any], what: str) -> None:
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise CacheUsageError(
            f"{what} through the cache must run outside a transaction: it commits, then "
            "invalidates (commit or roll back the open transaction first)"
        )


class CachedPreferences:
    """The MongoDB user's preferences, through the cache."""

    def __init__(self, users: Users, cache: ReadThroughCache) -> None:
        self.users = users
        self.cache = cache

    def get(self, user_id: str) -> Preferences:
        """`UserNotFoundError` for an unknown user, cached as briefly as any "not found"."""
        found = self.cache.get(PREFERENCES, user_id, lambda: self._load(user_id))
        if found is None:
            raise UserNotFoundError(f"no user with id {user_id!r}")
        return found  # type: ignore[no-any-return]

    def set(self, user_id: str, preferences: Preferences) -> Preferences:
        try:
            return self.users.set_preferences(user_id, preferences)
        finally:
            self.cache.invalidate(PREFERENCES, user_id)

    def _load(self, user_id: str) -> Preferences | None:
        try:
            return self.users.get_preferences(user_id)
        except UserNotFoundError:
            return None
