"""The cached hot reads on the real stores: the DynamoDB profile (moto's server), the
PostgreSQL user by id and by email (a migrated database, as app_rw), the MongoDB
preferences (FerretDB), all through a real Redis. Each write path is followed by a
read that must see the write; the store reads are counted by the cache's own
``store_reads``, and by the stores' own request counts where they have them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest
import redis
from psycopg.pq import TransactionStatus
from pymongo.database import Database

from appdata import postgres
from appdata.cache.core import ReadThroughCache
from appdata.cache.keys import Namespace
from appdata.cache.repositories import (
    USER_BY_EMAIL,
    CachedPreferences,
    CachedProfiles,
    CachedUsers,
    CacheUsageError,
)
from appdata.dynamo import AppDataRepository, UserNotFoundError
from appdata.mongo import Preferences, Users
from appdata.mongo import UserNotFoundError as MongoUserNotFoundError
from devtools.dynamodb_local import TableDefinition
from documents.indexes import apply
from tests.access.test_readme_snippets import readme_block
from tests.fixtures.app_roles import as_user
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.redis_server import RedisServer
from tests.support.processes import REPO


@pytest.fixture
def cache(cache_redis: redis.Redis) -> ReadThroughCache:
    return ReadThroughCache(cache_redis, Namespace("test"))


@pytest.fixture
def get_items(dynamodb: Any) -> Iterator[list[tuple[str, bool]]]:
    """GetItem requests that reached the DynamoDB endpoint, and whether each was consistent
    (an eventually consistent load could fill the entry with the value before a write)."""
    calls: list[tuple[str, bool]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append((params["Key"]["PK"]["S"], params["ConsistentRead"]))

    event = "before-parameter-build.dynamodb.GetItem"
    dynamodb.meta.events.register(event, record)
    yield calls
    dynamodb.meta.events.unregister(event, record)


def test_profile_hit_after_miss_and_every_write_invalidates(
    repo: AppDataRepository, cache: ReadThroughCache, get_items: list[tuple[str, bool]]
) -> None:
    profiles = CachedProfiles(repo, cache)
    assert profiles.get_user_profile("u1") is None  # not found, cached briefly
    assert profiles.get_user_profile("u1") is None
    assert get_items == [("USER#u1", True)]

    profiles.create_user("u1", email="ann@example.com", name="Ann")
    assert profiles.get_user_profile("u1")["name"] == "Ann"  # type: ignore[index]
    assert profiles.get_user_profile("u1")["name"] == "Ann"  # type: ignore[index]
    assert get_items == [("USER#u1", True)] * 2

    profiles.update_user_profile("u1", name="Ann B.")
    profile = profiles.get_user_profile("u1")
    assert profile is not None and profile["name"] == "Ann B."
    assert profile["created_at"] == repo.get_user_profile("u1")["created_at"]  # type: ignore[index]
    with pytest.raises(UserNotFoundError):
        profiles.update_user_profile("nobody", name="x")
    assert cache.stats.as_dict()["invalidations"] == 3


def test_a_cached_profile_keeps_dynamodb_types(
    repo: AppDataRepository, cache: ReadThroughCache
) -> None:
    from decimal import Decimal  # noqa: PLC0415

    profiles = CachedProfiles(repo, cache)
    profiles.create_user(
        "u2",
        email="b@example.com",
        name="B",
        attributes={"credit": Decimal("12.50"), "tags": {"a"}},
    )
    stored = profiles.get_user_profile("u2")
    cached = profiles.get_user_profile("u2")
    assert cache.stats.hits == 1
    assert cached == stored == repo.get_user_profile("u2")
    assert isinstance(cached["credit"], Decimal) and cached["tags"] == {"a"}  # type: ignore[index]


def test_postgres_user_by_id_and_email_cached_and_every_write_invalidates(
    pg: psycopg.Connection[Any], cache: ReadThroughCache
) -> None:
    users = CachedUsers(cache)
    assert users.find_user_by_email(pg, "ada@example.com") is None  # cached "not found"
    ada, _ = users.create_user_with_post(pg, email="ada@example.com", name="Ada", title="Hi")
    assert users.find_user_by_email(pg, "ada@example.com") == ada
    assert users.get_user(pg, ada.id) == ada
    reads = cache.stats.store_reads
    assert users.get_user(pg, ada.id) == ada
    assert users.find_user_by_email(pg, "ada@example.com") == ada
    assert cache.stats.store_reads == reads  # both from the cache, types intact

    renamed = users.update_user(pg, ada.id, email="ada.l@example.com", name="Ada L.")
    assert renamed is not None and renamed.updated_at > ada.updated_at
    assert users.get_user(pg, ada.id) == renamed
    assert users.find_user_by_email(pg, "ada.l@example.com") == renamed
    assert users.find_user_by_email(pg, "ada@example.com") is None  # the old email forgotten

    assert users.soft_delete_user(pg, ada.id) is True
    assert users.get_user(pg, ada.id) is None
    assert users.find_user_by_email(pg, "ada.l@example.com") is None
    assert users.soft_delete_user(pg, ada.id) is False
    assert users.update_user(pg, uuid4(), name="nobody") is None


def test_postgres_reads_on_a_non_autocommit_connection(
    fresh_db_url: str, pg: psycopg.Connection[Any], cache: ReadThroughCache
) -> None:
    """Outside a transaction a read runs in one of its own and leaves the connection idle;
    inside the caller's, it goes to the store alone: its snapshot and its uncommitted writes
    are the caller's, never cached or shared."""
    users = CachedUsers(cache)
    ada, _ = users.create_user_with_post(pg, email="ada@example.com", name="Ada", title="Hi")
    with psycopg.connect(as_user(fresh_db_url, "app_rw")) as conn:
        assert not conn.autocommit
        assert users.get_user(conn, ada.id) == ada
        assert conn.info.transaction_status == TransactionStatus.IDLE
        assert users.update_user(conn, ada.id, name="Ada L.") is not None  # not refused
        with conn.transaction(force_rollback=True):
            conn.execute("UPDATE users SET name = 'uncommitted' WHERE id = %s", (ada.id,))
            assert users.get_user(conn, ada.id).name == "uncommitted"  # type: ignore[union-attr]
        assert cache.stats.bypassed == 1
    fresh = users.get_user(pg, ada.id)
    assert fresh is not None and fresh.name == "Ada L."


def test_postgres_writes_inside_an_open_transaction_are_refused(
    pg: psycopg.Connection[Any], cache: ReadThroughCache
) -> None:
    """Invalidating before the commit would let a reader cache the old row for a TTL."""
    users = CachedUsers(cache)
    ada, _ = users.create_user_with_post(pg, email="ada@example.com", name="Ada", title="Hi")
    with pg.transaction(), pytest.raises(CacheUsageError, match="outside a transaction"):
        users.update_user(pg, ada.id, name="Ada L.")
    assert postgres.get_user(pg, ada.id) == ada  # nothing written


def test_postgres_stale_entry_is_not_refilled_by_a_read_racing_the_update(
    pg: psycopg.Connection[Any], cache: ReadThroughCache, cache_redis: redis.Redis
) -> None:
    """The read began before the update committed; its fill is refused (versioned)."""
    users = CachedUsers(cache)
    ada, _ = users.create_user_with_post(pg, email="ada@example.com", name="Ada", title="Hi")
    old = postgres.find_user_by_email(pg, "ada@example.com")
    names = cache.namespace.names(USER_BY_EMAIL, "ada@example.com")
    version_before = cache_redis.get(names.version)

    def racing_read() -> postgres.User | None:
        users.update_user(pg, ada.id, name="Ada L.")  # commits and invalidates mid-read
        return old

    assert cache.get(USER_BY_EMAIL, "ada@example.com", racing_read) == old
    assert cache_redis.get(names.version) != version_before
    found = users.find_user_by_email(pg, "ada@example.com")
    assert found is not None and found.name == "Ada L."


@pytest.fixture
def mongo_users(document_db: Database[Any]) -> Users:
    apply(document_db)
    return Users(document_db)


def test_preferences_cached_defaults_then_set_invalidates(
    mongo_users: Users, cache: ReadThroughCache
) -> None:
    preferences = CachedPreferences(mongo_users, cache)
    user_id = mongo_users.create(email="ada@example.com", name="Ada")
    assert preferences.get(user_id) == Preferences(theme="light", notifications=True)
    assert preferences.get(user_id) == Preferences()
    assert cache.stats.hits == 1
    preferences.set(user_id, Preferences(theme="dark", notifications=False))
    assert preferences.get(user_id) == Preferences(theme="dark", notifications=False)
    assert mongo_users.get_preferences(user_id) == Preferences("dark", False)


def test_preferences_of_an_unknown_user_are_a_cached_not_found(
    mongo_users: Users, cache: ReadThroughCache
) -> None:
    preferences = CachedPreferences(mongo_users, cache)
    missing = "0123456789abcdef01234567"
    for _ in range(2):
        with pytest.raises(MongoUserNotFoundError):
            preferences.get(missing)
    assert (cache.stats.store_reads, cache.stats.negative_hits) == (1, 1)
    with pytest.raises(MongoUserNotFoundError):
        preferences.set(missing, Preferences())


def test_every_pattern_answers_from_the_store_while_redis_is_down(
    redis_server: RedisServer,
    repo: AppDataRepository,
    pg: psycopg.Connection[Any],
    mongo_users: Users,
    cache: ReadThroughCache,
) -> None:
    profiles, users, preferences = (
        CachedProfiles(repo, cache),
        CachedUsers(cache),
        CachedPreferences(mongo_users, cache),
    )
    profiles.create_user("u1", email="ann@example.com", name="Ann")
    ada, _ = users.create_user_with_post(pg, email="ada@example.com", name="Ada", title="Hi")
    user_id = mongo_users.create(email="ada@example.com", name="Ada")
    redis_server.stop()
    assert profiles.get_user_profile("u1")["name"] == "Ann"  # type: ignore[index]
    assert users.get_user(pg, ada.id) == ada
    assert users.find_user_by_email(pg, "ada@example.com") == ada
    assert preferences.get(user_id) == Preferences()
    profiles.update_user_profile("u1", name="Ann B.")  # writes go on; invalidation is skipped
    assert profiles.get_user_profile("u1")["name"] == "Ann B."  # type: ignore[index]
    assert cache.stats.errors == 1


def test_the_readme_snippet_runs(
    moto: MotoServer, dynamodb: Any, dev_table: TableDefinition, redis_server: RedisServer
) -> None:
    del dynamodb  # the dev table, created on the moto server
    env = {
        **moto.cli_env(),
        "APPDATA_TABLE_NAME": dev_table.table_name,
        "AWS_ENDPOINT_URL_DYNAMODB": moto.url,
        "CACHE_URL": redis_server.url,
        "APPDATA_ENV": "readme",
    }
    done = subprocess.run(
        [sys.executable, "-c", readme_block("Using the cache")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Ann B.", "1 2"]
