"""Cached values as explicit JSON: every type the repositories return comes back as itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from boto3.dynamodb.types import Binary

from appdata.cache.codec import CodecError, DataclassCodec, JsonCodec
from appdata.mongo import Preferences
from appdata.postgres import User


def test_a_dynamodb_item_round_trips_with_its_types() -> None:
    item = {
        "PK": "USER#1",
        "credit": Decimal("12.50"),
        "count": Decimal("3"),
        "tags": {"a", "b"},
        "scores": {Decimal("1"), Decimal("2.5")},
        "avatar": b"\x00\xffPNG",
        "thumbnail": Binary(b"\x89PNG"),
        "chunks": {Binary(b"a"), Binary(b"b")},
        "nested": {"list": [Decimal("1.1"), None, True, "x"]},
        "$decimal": "a key that looks like a tag",
    }
    codec = JsonCodec()
    text = codec.dumps(item)
    assert codec.loads(text) == item
    assert isinstance(codec.loads(text)["count"], Decimal)
    assert isinstance(codec.loads(text)["thumbnail"], Binary)
    assert "pickle" not in text and json.loads(text)  # plain JSON text


def test_a_postgres_user_round_trips() -> None:
    user = User(
        id=UUID("0b7c1f6e-2f64-4b3f-9a52-1d3f0f7f7a10"),
        email="ada@example.com",
        name="Ada",
        role=None,
        cognito_id=None,
        created_at=datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC),
        updated_at=datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC),
        deleted_at=None,
    )
    codec = DataclassCodec(User)
    assert codec.loads(codec.dumps(user)) == user
    assert DataclassCodec(Preferences).loads(DataclassCodec(Preferences).dumps(Preferences())) == (
        Preferences()
    )


def test_an_unknown_type_is_refused_at_write_time() -> None:
    with pytest.raises(CodecError, match="cannot cache a complex"):
        JsonCodec().dumps({"z": 1j})


def test_an_entry_of_another_shape_is_an_error_not_a_wrong_object() -> None:
    with pytest.raises(CodecError, match="does not hold a User"):
        DataclassCodec(User).loads('{"id": 1}')
    with pytest.raises(CodecError, match="unreadable"):
        JsonCodec().loads("{oops")
