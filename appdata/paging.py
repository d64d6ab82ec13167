"""One page of a limit/offset listing, whichever store it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

U = TypeVar("U")


@dataclass(frozen=True)
class UserPage(Generic[U]):
    users: list[U]
    total: int
    """Users in all pages (PostgreSQL: soft-deleted users are not counted)."""
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.users) < self.total
