"""The cache's connection, from ``CACHE_URL``: bounded timeouts, no retries of its own.

A cache that answers slowly must cost a request little: connect and read
timeouts are a quarter of a second, and redis-py's own retries are off (the
cache suspends itself after a failure instead, see `appdata.cache.core`).
``rediss://`` is TLS, as ElastiCache Serverless requires.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from appdata.cache.core import CacheTiming, ReadThroughCache
from appdata.cache.keys import Namespace

CACHE_URL_VARIABLE = "CACHE_URL"
ENVIRONMENT_VARIABLE = "APPDATA_ENV"
TAG_VARIABLE = "CACHE_KEY_TAG"
TIMEOUT_SECONDS = 0.25
MAX_CONNECTIONS = 32


class CacheConfigError(ValueError):
    """A CACHE_URL redis-py cannot use."""


def connect(
    url: str, *, timeout: float = TIMEOUT_SECONDS, max_connections: int = MAX_CONNECTIONS
) -> redis.Redis:
    """At most ``max_connections`` sockets: a burst of readers waits up to ``timeout`` for one
    rather than opening a socket each (and then fails over to the store)."""
    try:
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
    except ValueError as exc:
        raise CacheConfigError(f"{CACHE_URL_VARIABLE}: {exc}") from exc
    return redis.Redis(connection_pool=pool)


def cache_from_env(
    environ: Mapping[str, str] = os.environ, *, timing: CacheTiming | None = None
) -> ReadThroughCache:
    """The cache ``make local`` and the stack describe: ``CACHE_URL`` (unset: no cache, every
    read goes to the store), ``APPDATA_ENV`` (default ``local``), ``CACHE_KEY_TAG`` (``v1``)."""
    url = environ.get(CACHE_URL_VARIABLE)
    namespace = Namespace(
        environ.get(ENVIRONMENT_VARIABLE) or "local", environ.get(TAG_VARIABLE) or "v1"
    )
    return ReadThroughCache(connect(url) if url else None, namespace, timing=timing)
