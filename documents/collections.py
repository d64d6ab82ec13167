"""The collections of the document store and the indexes each must have.

The standards declare ``cognito_id`` unique. In MongoDB a unique index stores a
document without the field under ``null``, so a plain unique index admits one
user without a Cognito id. The declared index is therefore partial: unique among
the documents that have a ``cognito_id`` (``$exists``: DocumentDB 5 accepts that in a
partial index, not ``$type``). FerretDB 1.24 refuses
``partialFilterExpression`` (error 238, not implemented) and silently drops
``sparse``; its plain unique index, though, admits any number of documents
without the field (and refuses a second explicit ``null``). So where the server is
FerretDB the plain unique index is created instead, and the repository never
writes ``cognito_id: null``: it leaves the field out. Both behaviours are tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class IndexSpec:
    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    partial_filter: dict[str, Any] | None = field(default=None, hash=False)
    """``partialFilterExpression`` where the server supports it."""


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    indexes: tuple[IndexSpec, ...]


USERS = CollectionSpec(
    name="users",
    indexes=(
        IndexSpec("email_1", (("email", 1),), unique=True),
        IndexSpec(
            "cognito_id_1",
            (("cognito_id", 1),),
            unique=True,
            partial_filter={"cognito_id": {"$exists": True}},
        ),
        # The standards' created_at descending, with _id after it: the listing sorts on
        # both (a stable order for equal timestamps), and the index serves that sort.
        IndexSpec("created_at_-1__id_-1", (("created_at", -1), ("_id", -1))),
    ),
)
COLLECTIONS = (USERS,)
