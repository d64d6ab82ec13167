"""Bring a database's indexes to `documents.collections`: create what is missing, refuse what
differs.

An index whose keys or options differ from its definition is a conflict, reported
with its name and both versions, and never dropped here: dropping a unique index
in production is a decision for a person (``db.users.dropIndex(NAME)``), after
which ``apply`` creates the declared one. ``apply`` checks everything first and
creates nothing when there is a conflict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from pymongo.database import Database

from documents.collections import COLLECTIONS, CollectionSpec, IndexSpec

Action = Literal["create", "created", "ok", "conflict"]


class IndexConflictError(Exception):
    """A live index differs from its definition: one line naming it."""


@dataclass(frozen=True)
class IndexStep:
    collection: str
    index: str
    action: Action
    options: dict[str, Any]
    detail: str = ""

    def line(self) -> str:
        where = f"{self.collection}.{self.index}"
        return f"{self.action:<8} {where} {self.detail or _shown(self.options)}"

    def document(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "index": self.index,
            "action": self.action,
            "options": self.options,
            "detail": self.detail,
        }


def is_ferretdb(db: Database[Any]) -> bool:
    """FerretDB reports MongoDB's version and adds its own to buildInfo."""
    return "ferretdbVersion" in db.client.admin.command("buildInfo")


def wanted(spec: IndexSpec, *, ferretdb: bool) -> dict[str, Any]:
    """The index as this server should hold it: keys, and unique/partial where declared."""
    options: dict[str, Any] = {"key": [list(k) for k in spec.keys]}
    if spec.unique:
        options["unique"] = True
    if spec.partial_filter is not None and not ferretdb:
        options["partialFilterExpression"] = spec.partial_filter
    return options


IGNORED_OPTIONS = frozenset({"v", "ns", "name", "key", "background"})
"""Index metadata that is not an option: every other field (unique, partial, sparse, TTL,
collation, ...) must be as declared."""


def _live(info: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {
        # numbers as ints (a server may say 1.0); text, 2dsphere, hashed stay as they are
        "key": [
            [name, order if isinstance(order, str) else int(order)] for name, order in info["key"]
        ]
    }
    for option, value in info.items():
        if option not in IGNORED_OPTIONS and value not in (False, None):
            options[option] = _plain(value)
    return options


def _plain(value: Any) -> Any:
    """SON and nested documents as plain dicts, so they compare and print as declared."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def plan(
    db: Database[Any], collections: tuple[CollectionSpec, ...] = COLLECTIONS
) -> list[IndexStep]:
    ferretdb = is_ferretdb(db)
    steps = []
    for collection in collections:
        live = {name: _live(info) for name, info in db[collection.name].index_information().items()}
        for spec in collection.indexes:
            steps.append(_step(collection.name, spec, wanted(spec, ferretdb=ferretdb), live))
    return steps


def _step(
    collection: str, spec: IndexSpec, want: dict[str, Any], live: dict[str, dict[str, Any]]
) -> IndexStep:
    if spec.name in live:
        if live[spec.name] == want:
            return IndexStep(collection, spec.name, "ok", want, "as declared")
        return IndexStep(
            collection, spec.name, "conflict", want,
            f"is {_shown(live[spec.name])}, declared {_shown(want)}: drop it yourself "
            f"(db.{collection}.dropIndex('{spec.name}')) if the change is intended; "
            "it is never dropped here",
        )  # fmt: skip
    same_keys = [name for name, options in live.items() if options["key"] == want["key"]]
    if same_keys:
        return IndexStep(
            collection, spec.name, "conflict", want,
            f"its keys are indexed already as {same_keys[0]} {_shown(live[same_keys[0]])}: "
            "rename or drop that index yourself",
        )  # fmt: skip
    return IndexStep(collection, spec.name, "create", want)


def apply(
    db: Database[Any], collections: tuple[CollectionSpec, ...] = COLLECTIONS
) -> list[IndexStep]:
    """Create every missing index, or none when one conflicts (`IndexConflictError`)."""
    steps = plan(db, collections)
    conflicts = [step for step in steps if step.action == "conflict"]
    if conflicts:
        raise IndexConflictError(conflicts[0].line().strip())
    return [_create(db, step) if step.action == "create" else step for step in steps]


def _create(db: Database[Any], step: IndexStep) -> IndexStep:
    options = {k: v for k, v in step.options.items() if k != "key"}
    keys = [(name, order) for name, order in step.options["key"]]
    db[step.collection].create_index(keys, name=step.index, **options)
    return replace(step, action="created")


def _shown(options: dict[str, Any]) -> str:
    keys = ", ".join(f"{name}: {order}" for name, order in options["key"])
    extra = [
        name if value is True else f"{name} {json.dumps(value, default=str)}"
        for name, value in options.items()
        if name != "key"
    ]
    return "{" + keys + "}" + (f" ({', '.join(extra)})" if extra else "")
