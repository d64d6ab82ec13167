"""ReadThroughCache: cache-aside reads over Redis/Valkey that never make a request fail.

Reads: one round trip (``GET`` of the entry). A hit returns
the decoded value; a cached "not found" returns None. Concurrent reads of one
key in a process share one call (`appdata.cache.flight`); on a miss, one
process per cache loads, through a ``SET NX PX`` lock, and re-reads the entry
first (another may just have filled it); the others wait for its entry, up to
``lock_timeout``, then load themselves.

Writes invalidate, they do not update. A writer's ``SET`` of the new value can
land after a concurrent writer's, leaving the older value cached until its TTL;
and a reader that loaded before the write can store what it read after the
write. So a write gives the entry a new random version and deletes it, and a
reader stores what it loaded only if the version is still the one it saw
before loading (a Lua compare-and-set). A reader therefore never caches a
value older than a write it could have observed, provided its load reads the
store's latest committed state (a consistent read: see `repositories`).

The bound: an entry can outlive its store value by at most the kind's TTL, and
only when the invalidation itself failed (the cache did not answer the writer;
`invalidation_failures` counts them). Invalidations are always attempted, even
while reads leave a failing cache alone. TTLs are jittered downwards
(``ttl * (1 - jitter * U[0,1))``), so the bound stays the TTL and entries
written together do not expire together. A deploy that changes a kind's
version or the namespace's tag starts new entries; processes still running the
old code keep reading the old ones, up to their TTL.

Failures fall back to the store (`appdata.cache.health` decides when to leave
the cache alone, and logs at most once per interval). An entry that cannot be
decoded is deleted and read from the store; a value that cannot be encoded is
returned uncached.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import RedisError

from appdata.cache.flight import SingleFlight
from appdata.cache.health import CacheHealth
from appdata.cache.keys import CacheNames, EntryKind, Namespace
from appdata.cache.stats import CacheStats

_FILL = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_INVALIDATE = """
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
return redis.call('DEL', KEYS[1])
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_MISSING = "\x00missing"
"""The entry of a cached "not found" (no JSON text starts with NUL)."""
VERSION_TTL_SECONDS = 6 * 3600
"""How long a key's version outlives its last write: far longer than any load. A random
token, not a counter: a version that expired or was evicted never comes back equal."""


@dataclass(frozen=True, kw_only=True)
class CacheTiming:
    """How long to wait, how long to stay away, how often to complain."""

    lock_timeout: float = 2.0
    """How long waiting readers wait for the loader's entry before loading themselves."""
    retry_after: float = 5.0
    log_interval: float = 60.0
    jitter: float = 0.1


class ReadThroughCache:
    """Entries of any `EntryKind` in one namespace; ``client`` None means no cache at all."""

    def __init__(
        self,
        client: redis.Redis | None,
        namespace: Namespace,
        *,
        timing: CacheTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.timing = timing or CacheTiming()
        self.stats = CacheStats()
        self._clock, self._sleep, self._rng = clock, sleep, rng
        self.health = CacheHealth(
            retry_after=self.timing.retry_after, log_interval=self.timing.log_interval, clock=clock
        )
        self._flights = SingleFlight(
            timeout=self.timing.lock_timeout * 2, on_follow=lambda: self.stats.add("coalesced")
        )
        self._scripts = (
            {name: client.register_script(text) for name, text in (
                ("fill", _FILL), ("invalidate", _INVALIDATE), ("release", _RELEASE))}
            if client is not None
            else {}
        )  # fmt: skip

    # -- reads -------------------------------------------------------------------

    def get(self, kind: EntryKind[Any], key: str, load: Callable[[], Any]) -> Any:
        """The cached value of ``key``, else ``load()`` (None: not found, cached shorter)."""
        names = self.namespace.names(kind, key)
        return self._flights.run(names.value, lambda: self._get(kind, names, load))

    def _get(self, kind: EntryKind[Any], names: CacheNames, load: Callable[[], Any]) -> Any:
        if self._client is None or self.health.suspended():
            self.stats.add("bypassed")
            return self._load(load)
        try:
            entry = self._client.get(names.value)
        except RedisError as exc:
            return self._fall_back(exc, "read", load)
        self.health.answered()
        found, value = self._decoded(kind, names, entry)
        if found:
            return value
        self.stats.add("misses")
        return self._lead(kind, names, load)

    def _decoded(self, kind: EntryKind[Any], names: CacheNames, entry: Any) -> tuple[bool, Any]:
        """(True, value) for a usable entry; an unusable one is deleted (it is a miss)."""
        if entry is None:
            return False, None
        try:
            text = entry.decode() if isinstance(entry, bytes) else str(entry)
            if text == _MISSING:
                self.stats.add("negative_hits")
                return True, None
            value = kind.codec.loads(text)
        except Exception as exc:  # any undecodable entry is a miss, never a failed read
            self._error(exc, f"entry {names.value} decode")
            self._delete(names.value)
            return False, None
        self.stats.add("hits")
        return True, value

    def _lead(self, kind: EntryKind[Any], names: CacheNames, load: Any) -> Any:
        """This process's loader: take the cache-wide lock and load, or wait for who has it."""
        assert self._client is not None
        deadline = self._clock() + self.timing.lock_timeout
        delay = 0.002
        while True:
            try:
                token = self._acquire(names.lock)
                if token is None:
                    self._sleep(delay)
                    delay = min(delay * 2, 0.05)
                    entry = self._client.get(names.value)
                else:
                    return self._load_locked(kind, names, token, load)
            except RedisError as exc:
                return self._fall_back(exc, "lock", load)
            found, value = self._decoded(kind, names, entry)
            if found:
                return value
            if self._clock() >= deadline:
                return self._load(load)

    def _load_locked(self, kind: EntryKind[Any], names: CacheNames, token: str, load: Any) -> Any:
        """Holding the lock: another process may have filled the entry just before; else load
        and fill, against the version read now, before the release (no gap for a second load)."""
        assert self._client is not None
        try:
            entry, version = self._client.mget(names.value, names.version)
            found, value = self._decoded(kind, names, entry)
            if found:
                return value
            value = self._load(load)
            self._fill(kind, names, version, value)
            return value
        finally:
            self._release(names.lock, token)

    def _acquire(self, lock_key: str) -> str | None:
        """A token if this caller now holds the key's lock (it expires after lock_timeout)."""
        assert self._client is not None
        token = secrets.token_hex(8)
        timeout_ms = int(self.timing.lock_timeout * 1000)
        return token if self._client.set(lock_key, token, nx=True, px=timeout_ms) else None

    def _release(self, lock_key: str, token: str) -> None:
        """Only if still ours, and not while the cache is failing (the lock expires anyway)."""
        if self.health.suspended():
            return
        try:
            self._scripts["release"](keys=[lock_key], args=[token])
        except RedisError as exc:
            self._error(exc, "lock release")

    def _fill(self, kind: EntryKind[Any], names: CacheNames, version: Any, value: Any) -> None:
        ttl = kind.negative_ttl_seconds if value is None else kind.ttl_seconds
        ttl_ms = max(1, int(ttl * 1000 * (1 - self.timing.jitter * self._rng())))
        try:
            text = _MISSING if value is None else kind.codec.dumps(value)
        except Exception as exc:  # an uncachable value is returned, uncached
            self._error(exc, f"entry {names.value} encode")
            return
        expected = (version.decode() if isinstance(version, bytes) else version) or ""
        try:
            stored = self._scripts["fill"](
                keys=[names.value, names.version], args=[expected, text, ttl_ms]
            )
        except RedisError as exc:
            self._error(exc, "fill")
            return
        if stored:
            self.stats.add("fills")

    def _load(self, load: Callable[[], Any]) -> Any:
        self.stats.add("store_reads")
        return load()

    def _fall_back(self, exc: RedisError, what: str, load: Callable[[], Any]) -> Any:
        self._error(exc, what)
        return self._load(load)

    def _error(self, exc: Exception, what: str) -> None:
        """A failure of the cache: counted, and for `health` to judge."""
        self.stats.add("errors")
        self.health.failed(exc, what)

    def _delete(self, key: str) -> None:
        assert self._client is not None
        try:
            self._client.delete(key)
        except RedisError as exc:
            self.health.failed(exc, "delete")

    # -- writes ------------------------------------------------------------------

    def invalidate(self, kind: EntryKind[Any], *keys: str) -> None:
        """After a store write: drop each entry and give it a new version. Never raises.

        Attempted even while reads leave the cache alone: a skipped invalidation is what
        leaves an entry stale for a TTL, and a write can afford one bounded timeout."""
        if self._client is None:
            return
        for key in keys:
            names = self.namespace.names(kind, key)
            try:
                self._scripts["invalidate"](
                    keys=[names.value, names.version],
                    args=[VERSION_TTL_SECONDS * 1000, secrets.token_hex(8)],
                )
            except RedisError as exc:
                self.stats.add("invalidation_failures")
                self.health.failed(exc, f"invalidation of {names.value} (stale up to its TTL)")
                continue
            self.stats.add("invalidations")
