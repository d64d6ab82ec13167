"""ReadThroughCache on a real Redis: hits, TTLs, negative entries, single flight, invalidation
races, outages and namespaces. The "store" here is a dict that counts its reads, so that
each test can say how many reads reached it; the repositories' own tests
(tests/appdata/test_cached_patterns.py) use the real stores.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from appdata.cache.client import TIMEOUT_SECONDS, cache_from_env, connect
from appdata.cache.codec import JsonCodec
from appdata.cache.core import CacheTiming, ReadThroughCache
from appdata.cache.keys import EntryKind, Namespace
from tests.fixtures.redis_server import RedisServer

KIND: EntryKind[Any] = EntryKind("profile", 1, JsonCodec(), 60, 5)
SHORT: EntryKind[Any] = EntryKind("short", 1, JsonCodec(), 0.4, 0.2)
FAST = CacheTiming(lock_timeout=2.0, retry_after=0.3, log_interval=60.0, jitter=0.1)


class Store:
    """A dict that counts reads; ``gate`` (if set) holds every read's answer (read already)
    until it is set, as a slow network would."""

    def __init__(self, **items: Any) -> None:
        self.items = dict(items)
        self.reads = 0
        self.gate: threading.Event | None = None
        self.read_started = threading.Event()
        self._lock = threading.Lock()

    def loader(self, key: str) -> Any:
        def load() -> Any:
            with self._lock:
                self.reads += 1
            value = self.items.get(key)
            self.read_started.set()
            if self.gate is not None:
                assert self.gate.wait(10)
            return value

        return load


def cache(client: redis.Redis | None, env: str = "test", tag: str = "v1") -> ReadThroughCache:
    return ReadThroughCache(client, Namespace(env, tag), timing=FAST)


def test_a_hit_after_a_miss(cache_redis: redis.Redis) -> None:
    store, c = Store(u1={"name": "Ann"}), cache(cache_redis)
    assert c.get(KIND, "u1", store.loader("u1")) == {"name": "Ann"}
    assert c.get(KIND, "u1", store.loader("u1")) == {"name": "Ann"}
    assert store.reads == 1
    stats = c.stats.as_dict()
    assert (stats["misses"], stats["hits"], stats["fills"], stats["store_reads"]) == (1, 1, 1, 1)


def test_not_found_is_cached_shorter(cache_redis: redis.Redis) -> None:
    store, c = Store(), cache(cache_redis)
    assert c.get(KIND, "ghost", store.loader("ghost")) is None
    assert c.get(KIND, "ghost", store.loader("ghost")) is None
    assert store.reads == 1 and c.stats.negative_hits == 1
    names = c.namespace.names(KIND, "ghost")
    assert 0 < cache_redis.pttl(names.value) <= KIND.negative_ttl_seconds * 1000


def test_entries_expire_after_their_ttl_jittered_downwards(cache_redis: redis.Redis) -> None:
    store = Store(k={"v": 1}, gone=None)
    c = ReadThroughCache(cache_redis, Namespace("test"), timing=FAST, rng=lambda: 0.999)
    c.get(SHORT, "k", store.loader("k"))
    ttl_ms = cache_redis.pttl(c.namespace.names(SHORT, "k").value)
    assert SHORT.ttl_seconds * 1000 * 0.9 - 50 <= ttl_ms <= SHORT.ttl_seconds * 1000 * 0.9001
    c.get(SHORT, "gone", store.loader("gone"))
    time.sleep(SHORT.ttl_seconds + 0.1)
    store.items["k"] = {"v": 2}
    assert c.get(SHORT, "k", store.loader("k")) == {"v": 2}
    c.get(SHORT, "gone", store.loader("gone"))
    assert store.reads == 4


def test_invalidate_forgets_the_entry(cache_redis: redis.Redis) -> None:
    store, c = Store(u1={"v": 1}), cache(cache_redis)
    c.get(KIND, "u1", store.loader("u1"))
    store.items["u1"] = {"v": 2}
    c.invalidate(KIND, "u1")
    assert c.get(KIND, "u1", store.loader("u1")) == {"v": 2}
    assert store.reads == 2 and c.stats.invalidations == 1


def test_a_read_that_began_before_a_write_does_not_cache_the_old_value(
    cache_redis: redis.Redis,
) -> None:
    """The race that delete-on-write alone loses: the reader loaded v1, the writer stored v2
    and invalidated, then the reader stored v1, served until its TTL. The version check
    refuses that store."""
    store, c = Store(u1={"v": 1}), cache(cache_redis)
    store.gate = threading.Event()
    results: list[Any] = []
    reader = threading.Thread(target=lambda: results.append(c.get(KIND, "u1", store.loader("u1"))))
    reader.start()
    assert store.read_started.wait(5)  # the reader has read v1 and is about to fill
    store.items["u1"] = {"v": 2}  # the write...
    c.invalidate(KIND, "u1")  # ...and its invalidation, before the reader's fill
    store.gate.set()
    reader.join(5)
    assert results == [{"v": 1}]  # as fresh as its own read; not cached
    assert c.stats.fills == 0
    store.gate = None
    assert c.get(KIND, "u1", store.loader("u1")) == {"v": 2}


def gated_reads(c: ReadThroughCache, store: Store, key: str, readers: int) -> list[Any]:
    """What ``readers`` concurrent reads of ``key`` returned, the store's first read held
    until the others have piled up behind it."""
    store.gate = threading.Event()
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(c.get(KIND, key, store.loader(key))))
        for _ in range(readers)
    ]
    for thread in threads:
        thread.start()
    assert store.read_started.wait(5)
    time.sleep(0.1)  # let the others pile up behind the first
    store.gate.set()
    for thread in threads:
        thread.join(10)
    return results


def test_concurrent_readers_of_a_cold_key_make_one_store_read(cache_redis: redis.Redis) -> None:
    store, c = Store(hot={"v": 1}), cache(cache_redis)
    results = gated_reads(c, store, "hot", 200)
    assert results == [{"v": 1}] * 200
    assert store.reads == 1


CONTENDER = """
import sys, threading, time
from appdata.cache.client import connect
from appdata.cache.codec import JsonCodec
from appdata.cache.core import ReadThroughCache
from appdata.cache.keys import EntryKind, Namespace

url, log, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
kind = EntryKind("profile", 1, JsonCodec(), 60, 5)
cache = ReadThroughCache(connect(url), Namespace("test"))

def load():
    with open(log, "a") as out:
        out.write("read\\n")
    time.sleep(0.3)
    return {"v": 1}

results = []
def read():
    results.append(cache.get(kind, "hot", load))
while time.time() < start_at:
    time.sleep(0.001)
threads = [threading.Thread(target=read) for _ in range(50)]
for t in threads: t.start()
for t in threads: t.join()
assert results == [{"v": 1}] * 50, results
"""


def test_readers_in_several_processes_make_one_store_read(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    log = tmp_path / "reads.log"
    start_at = time.time() + 2.0  # every process imported and waiting
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, redis_server.url, str(log), str(start_at)],
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(4)
    ]
    assert [p.wait(30) for p in processes] == [0, 0, 0, 0]
    assert log.read_text().splitlines() == ["read"]


def test_a_stopped_cache_falls_back_to_the_store_logs_once_and_recovers(
    redis_server: RedisServer, cache_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    store, c = Store(u1={"v": 1}), cache(cache_redis)
    c.get(KIND, "u1", store.loader("u1"))
    redis_server.stop()
    caplog.set_level(logging.WARNING, logger="appdata.cache")
    for _ in range(50):
        assert c.get(KIND, "u1", store.loader("u1")) == {"v": 1}
    time.sleep(FAST.retry_after + 0.05)
    for _ in range(50):
        assert c.get(KIND, "u1", store.loader("u1")) == {"v": 1}
    warnings = [r.getMessage() for r in caplog.records if r.name == "appdata.cache"]
    assert len(warnings) == 1 and warnings[0].startswith("cache read failed (ConnectionError")
    assert "reading from the store, retrying every 0.3s" in warnings[0]
    assert c.stats.errors == 2  # one per retry interval, not one per call
    assert c.stats.bypassed == 98
    assert store.reads == 101

    redis_server.start()
    time.sleep(FAST.retry_after + 0.05)
    hits = c.stats.hits
    c.get(KIND, "u1", store.loader("u1"))
    assert c.get(KIND, "u1", store.loader("u1")) == {"v": 1}
    assert c.stats.hits > hits  # hits resume
    assert [r.getMessage() for r in caplog.records][-1] == "cache reachable again: reads use it"


def test_a_write_whose_invalidation_failed_is_stale_at_most_one_ttl(
    cache_redis: redis.Redis,
) -> None:
    """The stated bound. The writer cannot reach the cache (here: a port where nothing
    listens) while readers can; the old entry lives out its TTL, and not a moment longer."""
    kind: EntryKind[Any] = EntryKind("bounded", 1, JsonCodec(), 1.0, 0.5)
    store = Store(k={"v": 1})
    reader, writer = cache(cache_redis), cache(connect("redis://127.0.0.1:1/0"))
    reader.get(kind, "k", store.loader("k"))
    filled = time.monotonic()
    store.items["k"] = {"v": 2}
    writer.invalidate(kind, "k")  # fails; must not raise
    assert writer.stats.invalidation_failures == 1
    seen = []
    while (value := reader.get(kind, "k", store.loader("k"))) != {"v": 2}:
        seen.append(value)
        assert time.monotonic() - filled <= kind.ttl_seconds + 0.1, "stale past the TTL"
        time.sleep(0.02)
    assert time.monotonic() - filled >= kind.ttl_seconds * (1 - FAST.jitter) - 0.05
    assert seen and all(v == {"v": 1} for v in seen)  # stale while the entry lasted


def test_invalidations_are_attempted_while_reads_leave_the_cache_alone(
    redis_server: RedisServer, cache_redis: redis.Redis
) -> None:
    """A read failure suspends reads; the next write's invalidation still goes through."""
    store, c = Store(k={"v": 1}), cache(cache_redis)
    c.get(KIND, "k", store.loader("k"))
    redis_server.stop()
    c.get(KIND, "k", store.loader("k"))  # fails, suspends reads
    redis_server.start()
    assert c.health.suspended()
    store.items["k"] = {"v": 2}
    c.invalidate(KIND, "k")
    assert (c.stats.invalidations, c.stats.invalidation_failures) == (1, 0)
    time.sleep(FAST.retry_after + 0.05)
    assert c.get(KIND, "k", store.loader("k")) == {"v": 2}


def test_every_invalidation_gets_a_new_random_version(cache_redis: redis.Redis) -> None:
    """Not a counter: a version that expired or was evicted must never come back equal."""
    c = cache(cache_redis)
    names = c.namespace.names(KIND, "k")
    versions = set()
    for _ in range(3):
        c.invalidate(KIND, "k")
        versions.add(cache_redis.get(names.version))
        cache_redis.delete(names.version)  # as an eviction would
    assert len(versions) == 3 and None not in versions


def test_an_unreachable_cache_is_bypassed_with_bounded_timeouts() -> None:
    """A port where nothing listens: connection refused; the store answers."""
    client = connect("redis://127.0.0.1:1/0")
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (
        TIMEOUT_SECONDS,
        TIMEOUT_SECONDS,
    )
    store, c = Store(u1={"v": 1}), cache(client)
    assert c.get(KIND, "u1", store.loader("u1")) == {"v": 1}
    c.invalidate(KIND, "u1")  # attempted although reads are suspended, and it fails
    assert (c.stats.errors, c.stats.invalidation_failures) == (1, 1)
    assert c.health.suspended()


def test_a_cache_that_never_answers_times_out_and_the_store_answers() -> None:
    """A listener that accepts and says nothing: the read times out after TIMEOUT_SECONDS."""
    import socket  # noqa: PLC0415

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store, c = Store(u1={"v": 1}), cache(connect(f"redis://127.0.0.1:{port}/0"))
        assert c.get(KIND, "u1", store.loader("u1")) == {"v": 1}
    assert c.stats.errors == 1 and store.reads == 1


@pytest.mark.parametrize(
    "entry",
    [b"{not json", b"\xff\xfe", b'{"$decimal": "twelve"}', b'{"$object": 1}', b"[" * 100_000],
)
def test_an_unreadable_entry_is_a_miss_deleted_and_refilled(
    cache_redis: redis.Redis, entry: bytes
) -> None:
    """Not a failure of the cache: it stays in use (no suspension), the entry is replaced."""
    store, c = Store(u1={"v": 1}), cache(cache_redis)
    cache_redis.set(c.namespace.names(KIND, "u1").value, entry)
    assert c.get(KIND, "u1", store.loader("u1")) == {"v": 1}
    assert c.stats.errors == 1 and not c.health.suspended()
    assert c.get(KIND, "u1", store.loader("u1")) == {"v": 1}
    assert (c.stats.hits, store.reads) == (1, 1)


def test_a_value_that_cannot_be_encoded_is_returned_uncached(cache_redis: redis.Redis) -> None:
    store, c = Store(u1={"v": float("nan"), "z": 1j}), cache(cache_redis)
    assert c.get(KIND, "u1", store.loader("u1"))["z"] == 1j
    assert (c.stats.fills, c.stats.errors) == (0, 1) and not c.health.suspended()


def test_the_leaders_store_error_reaches_every_waiting_reader(cache_redis: redis.Redis) -> None:
    c, gate, started = cache(cache_redis), threading.Event(), threading.Event()

    def failing() -> Any:
        started.set()
        assert gate.wait(5)
        raise RuntimeError("store down")

    errors: list[str] = []

    def read() -> None:
        try:
            c.get(KIND, "k", failing)
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=read) for _ in range(20)]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.1)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert errors == ["store down"] * 20
    assert c.stats.store_reads == 1 and c.stats.coalesced == 19


def test_waiting_readers_get_their_own_copy(cache_redis: redis.Redis) -> None:
    store, c = Store(k={"tags": ["a"]}), cache(cache_redis)
    results = gated_reads(c, store, "k", 5)
    results[0]["tags"].append("changed by one caller")
    assert [r["tags"] for r in results[1:]] == [["a"]] * 4


def test_environments_and_tags_do_not_share_entries(cache_redis: redis.Redis) -> None:
    stores = {ns: Store(u1={"ns": ns}) for ns in ("dev/v1", "prod/v1", "dev/v2", "prod/v2")}
    caches = {ns: cache(cache_redis, *ns.split("/")) for ns in stores}
    for ns, c in caches.items():
        assert c.get(KIND, "u1", stores[ns].loader("u1")) == {"ns": ns}
    for ns, c in caches.items():
        assert c.get(KIND, "u1", stores[ns].loader("u1")) == {"ns": ns}
        assert stores[ns].reads == 1
    keys = sorted(k.decode() for k in cache_redis.keys("*"))
    assert keys == [
        "{appdata:dev:v1:profile.v1:u1}",
        "{appdata:dev:v2:profile.v1:u1}",
        "{appdata:prod:v1:profile.v1:u1}",
        "{appdata:prod:v2:profile.v1:u1}",
    ]


def test_a_new_shape_version_does_not_read_old_entries(cache_redis: redis.Redis) -> None:
    store, c = Store(u1={"v": 1}), cache(cache_redis)
    c.get(KIND, "u1", store.loader("u1"))
    reshaped: EntryKind[Any] = EntryKind("profile", 2, JsonCodec(), 60, 5)
    c.get(reshaped, "u1", store.loader("u1"))
    assert store.reads == 2


def test_without_cache_url_every_read_goes_to_the_store() -> None:
    c = cache_from_env({})
    store = Store(u1={"v": 1})
    for _ in range(3):
        assert c.get(KIND, "u1", store.loader("u1")) == {"v": 1}
    c.invalidate(KIND, "u1")
    assert store.reads == 3 and c.stats.errors == 0


def test_cache_from_env_reads_the_namespace() -> None:
    c = cache_from_env({"CACHE_URL": "redis://127.0.0.1:1/0", "APPDATA_ENV": "prod",
                        "CACHE_KEY_TAG": "r42"})  # fmt: skip
    assert c.namespace == Namespace("prod", "r42")
    with pytest.raises(ValueError, match="cache environment"):
        Namespace("no spaces")
