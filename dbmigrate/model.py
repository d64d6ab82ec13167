"""The compiled, immutable form of a migrations directory.

These types are shared by the compiler (which needs pglast) and by the bundle
and engine (which must not: the migration Lambda ships without pglast), so
they live in this dependency-free module.

The engine's records are NamedTuples, not dataclasses: ``ops migrate version``
imports about twenty of them, and the dataclasses module with its class
decorations cost a fifth of that command's start-up (45 ms of 200 ms here);
NamedTuples are immutable records too, created in microseconds.
"""

from __future__ import annotations

from typing import NamedTuple


class Statement(NamedTuple):
    """One SQL statement, without its trailing semicolon; ``line`` is 1-based in its file."""

    sql: str
    line: int


class Script(NamedTuple):
    """One migration file, split into statements.

    ``transactional`` is False only for a file that declares
    ``-- migrate:no-transaction``; ``checksum`` is the sha256 hex digest of the
    file's raw bytes; ``path`` is the file name, as shown in messages.
    """

    statements: tuple[Statement, ...]
    transactional: bool
    checksum: str
    path: str


class Migration(NamedTuple):
    """A version with its up script and, unless it is forward-only, its down script."""

    version: int
    name: str
    up: Script
    down: Script | None

    @property
    def label(self) -> str:
        """``000001_create_users_table``: the file name without direction and extension."""
        return self.up.path.removesuffix(".up.sql")
