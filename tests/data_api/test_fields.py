"""Value encoding, where the emulator cannot tell a wrong encoding from a right one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dbmigrate.transports.data_api import TransportError, from_field, to_field


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (True, {"booleanValue": True}),
        (False, {"booleanValue": False}),
        (0, {"longValue": 0}),
        (2**40, {"longValue": 2**40}),
        (0.5, {"doubleValue": 0.5}),
        ("", {"stringValue": ""}),
        (None, {"isNull": True}),
    ],
)
def test_values_encode_to_their_own_field_member(value: object, field: dict[str, object]) -> None:
    encoded = to_field(value)  # type: ignore[arg-type]

    assert encoded == field
    assert type(next(iter(encoded.values()))) is type(next(iter(field.values())))


def test_unsupported_values_are_refused() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        to_field(Decimal("1"))  # type: ignore[arg-type]


def test_nested_arrays_decode_to_postgres_literals() -> None:
    field = {"arrayValue": {"arrayValues": [{"longValues": [1, 2]}, {"longValues": [3, 4]}]}}

    assert from_field(field) == "{{1,2},{3,4}}"


def test_unknown_field_members_are_an_error() -> None:
    with pytest.raises(TransportError, match="unsupported Data API field"):
        from_field({"structValue": {}})
