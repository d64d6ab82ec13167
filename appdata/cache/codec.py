"""Cached values as explicit JSON: the types the repositories return, tagged; never pickle.

A DynamoDB item holds ``Decimal`` numbers (boto3's convention), sets and
``Binary`` values;
a PostgreSQL user holds ``UUID`` and ``datetime``; JSON has none of them. Each
is written as a one-key object (``{"$decimal": "12.50"}``) and read back as the
same type, so a hit returns what the store would have. An unknown type is an
error at write time, not a silent ``str()``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from boto3.dynamodb.types import Binary

T = TypeVar("T")


class CodecError(ValueError):
    """A value this codec cannot write, or a cached entry it cannot read."""


class Codec(Protocol[T]):
    def dumps(self, value: T) -> str: ...

    def loads(self, text: str) -> T: ...


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    for types, encode in _ENCODERS:
        if isinstance(value, types):
            return encode(value)
    raise CodecError(f"cannot cache a {type(value).__name__} as JSON: {value!r}")


def _encode_mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    if not all(isinstance(k, str) for k in value):
        raise CodecError("cached mappings need string keys")
    encoded = {k: _encode(v) for k, v in value.items()}
    return {"$object": encoded} if any(k in _TAGS for k in value) else encoded


_ENCODERS: tuple[tuple[Any, Callable[[Any], Any]], ...] = (
    (Decimal, lambda v: {"$decimal": str(v)}),
    (datetime, lambda v: {"$datetime": v.isoformat()}),
    (UUID, lambda v: {"$uuid": str(v)}),
    (Binary, lambda v: {"$binary": base64.b64encode(v.value).decode()}),
    (bytes | bytearray, lambda v: {"$bytes": base64.b64encode(bytes(v)).decode()}),
    (set | frozenset, lambda v: {"$set": sorted((_encode(x) for x in v), key=json.dumps)}),
    (list | tuple, lambda v: [_encode(x) for x in v]),
    (Mapping, _encode_mapping),
)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        decoder = _DECODERS.get(tag)
        if decoder is not None:
            return decoder(inner)
    return {k: _decode(v) for k, v in value.items()}


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$decimal": Decimal,
    "$datetime": datetime.fromisoformat,
    "$uuid": UUID,
    "$bytes": base64.b64decode,
    "$binary": lambda text: Binary(base64.b64decode(text)),
    "$set": lambda items: {_decode(v) for v in items},
    "$object": lambda inner: {k: _decode(v) for k, v in inner.items()},
}
_TAGS = frozenset(_DECODERS)
"""The keys that mark a tagged value: a plain dict with one of them is wrapped in ``$object``."""


class JsonCodec:
    """Plain values: dicts, lists, strings, numbers, and the tagged types above."""

    def dumps(self, value: Any) -> str:
        return json.dumps(_encode(value), separators=(",", ":"), allow_nan=False)

    def loads(self, text: str) -> Any:
        try:
            return _decode(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise CodecError(f"unreadable cache entry: {exc}") from exc


class DataclassCodec(Generic[T]):
    """A frozen dataclass (the repositories' ``User``): its fields, then the class again."""

    def __init__(self, cls: type[T]) -> None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} is not a dataclass")
        self._cls = cls
        self._fields = tuple(f.name for f in dataclasses.fields(cls))
        self._json = JsonCodec()

    def dumps(self, value: T) -> str:
        return self._json.dumps({name: getattr(value, name) for name in self._fields})

    def loads(self, text: str) -> T:
        fields = self._json.loads(text)
        if not isinstance(fields, dict) or set(fields) != set(self._fields):
            raise CodecError(f"cache entry does not hold a {self._cls.__name__}")
        return self._cls(**fields)
