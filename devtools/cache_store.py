"""The local cache of ``make local``: Debian's redis-server, detached, on 127.0.0.1, its log
in the directory, and no persistence: its entries go with ``make local-down``, as moto's
items do, so a restarted stack never serves entries of data that is gone.

Installed from Debian when missing, as PostgreSQL is (``.ci/system-packages.sh``);
a machine that has neither it nor root gets one line saying why, and the rest of
``make local`` goes on without ``CACHE_URL`` (the repositories then read the
stores directly).
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from typing import ClassVar

from devtools.detached import DetachedServer


class LocalCacheError(RuntimeError):
    """A one-line reason, printed as ``error: ...``."""


def installed_redis_server() -> str | None:
    """The redis-server binary on PATH, or None."""
    return shutil.which("redis-server")


@dataclass(frozen=True)
class RedisProcess(DetachedServer):
    """``redis-server --bind 127.0.0.1 --port PORT --dir DIR``, no config file of the host's,
    no snapshots, no append-only file."""

    name: ClassVar[str] = "Redis"
    file_stem: ClassVar[str] = "redis"
    port_variable: ClassVar[str] = "LOCAL_CACHE_PORT"
    marker: ClassVar[bytes] = b"redis-server"
    error: ClassVar[type[Exception]] = LocalCacheError

    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        binary = installed_redis_server()
        if binary is None:
            raise LocalCacheError(
                "redis-server is not installed (Debian package redis-server; "
                "make install adds it when run as root)"
            )
        return [
            binary,
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--appendonly", "no",
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--maxmemory", "256mb",
            "--maxmemory-policy", "allkeys-lru",
        ]  # fmt: skip

    def answers(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
