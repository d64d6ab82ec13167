"""The local document store of ``make local``: FerretDB on SQLite, detached, its data in the
directory (kept between runs), and the declared indexes applied.

SQLite rather than the local PostgreSQL: the store then needs no database, user or
extension of its own in the PostgreSQL cluster, starts and stops on its own, and
``make local-reset`` wipes it with the directory. FerretDB is the binary
``devtools.gotools`` builds (Go required); without it ``make local`` leaves the
document store out and says why in one line.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from devtools.detached import DetachedServer
from devtools.gotools import FERRETDB, GoToolUnavailableError, ensure


class LocalDocumentError(RuntimeError):
    """A one-line reason, printed as ``error: ...``."""


@dataclass(frozen=True)
class FerretProcess(DetachedServer):
    """``ferretdb --listen-addr 127.0.0.1:PORT --sqlite-url file:DIR/data/``."""

    name: ClassVar[str] = "FerretDB"
    file_stem: ClassVar[str] = "ferretdb"
    port_variable: ClassVar[str] = "LOCAL_MONGODB_PORT"
    marker: ClassVar[bytes] = b"ferretdb"
    error: ClassVar[type[Exception]] = LocalDocumentError

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str) -> str:
        return f"mongodb://{self.host}:{self.port}/{database}"

    def command(self) -> list[str]:
        self.data.mkdir(parents=True, exist_ok=True)
        try:
            binary = ensure(FERRETDB)
        except GoToolUnavailableError as exc:
            raise LocalDocumentError(str(exc)) from exc
        return [
            str(binary),
            "--listen-addr",
            f"{self.host}:{self.port}",
            "--sqlite-url",
            f"file:{self.data}/",
        ]

    def answers(self) -> bool:
        socket.create_connection((self.host, self.port), timeout=0.5).close()
        return True


def apply_indexes(url: str) -> str:
    """The declared indexes (documents.collections), as ``ops documents apply`` does."""
    from pymongo import MongoClient  # noqa: PLC0415 - pymongo only when the store runs
    from pymongo.errors import PyMongoError  # noqa: PLC0415

    from documents.indexes import IndexConflictError, apply  # noqa: PLC0415

    client: MongoClient[Any] = MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        steps = apply(client.get_default_database())
    except IndexConflictError as exc:
        raise LocalDocumentError(
            f"document store: refused, nothing created: {exc} (or make local-reset)"
        ) from exc
    except PyMongoError as exc:
        raise LocalDocumentError(f"document store {url}: {str(exc).splitlines()[0]}") from exc
    finally:
        client.close()
    created = [s.index for s in steps if s.action == "created"]
    return f"indexes created: {', '.join(created)}" if created else "indexes: as declared"
