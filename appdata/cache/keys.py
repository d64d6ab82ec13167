"""Cache key names: namespaced by environment, a deploy's tag, the kind and its shape version.

``appdata:<env>:<tag>:<kind>.v<version>:<key>``. Another environment sharing
the cache never reads these entries; a deploy that changes a value's shape
bumps the kind's version (or the tag), and old entries are simply never read
again, expiring by their TTL. The base name is a Redis hash tag (``{...}``):
the entry, its version and its lock share a hash slot, as a clustered cache
(ElastiCache Serverless) requires of the scripts that touch them together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from appdata.cache.codec import Codec

T = TypeVar("T")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
_TAG = re.compile(r"[A-Za-z0-9._-]{1,40}")


@dataclass(frozen=True)
class EntryKind(Generic[T]):
    """One kind of cached value: how it is written, how long it lives."""

    name: str
    version: int
    codec: Codec[T]
    ttl_seconds: float
    negative_ttl_seconds: float
    """A cached "not found" lives shorter: a create invalidates it, but a missed invalidation
    would hide a new record for this long."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"cache kind name {self.name!r}: lowercase letters, digits, '-'")
        if not 0 < self.negative_ttl_seconds <= self.ttl_seconds:
            raise ValueError(f"{self.name}: need 0 < negative TTL <= TTL")


@dataclass(frozen=True)
class CacheNames:
    value: str
    version: str
    lock: str


@dataclass(frozen=True)
class Namespace:
    """Where one deployment's entries live: ``environment`` and a ``tag`` the deploy sets."""

    environment: str
    tag: str = "v1"

    def __post_init__(self) -> None:
        for what, value in (("environment", self.environment), ("tag", self.tag)):
            if not _TAG.fullmatch(value):
                raise ValueError(f"cache {what} {value!r}: 1-40 of A-Z a-z 0-9 . _ -")

    def names(self, kind: EntryKind[object], key: str) -> CacheNames:
        base = f"{{appdata:{self.environment}:{self.tag}:{kind.name}.v{kind.version}:{key}}}"
        return CacheNames(value=base, version=f"{base}:version", lock=f"{base}:lock")
