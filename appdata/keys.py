"""Names and keys of the AppData single table, shared by the CDK construct and the code.

The construct (`data_constructs.app_data_table`) imports the key and index names
from this module, and the access patterns build their keys here, so the two
cannot drift apart silently. `REQUIRED_SCHEMA` lists what the patterns need
from the table; `missing_from` checks a CreateTable-style definition against it
(the tests run it on the synthesized template, `make local` before creating the
local table).

Item layout (from the database standards)::

    PK            SK           attributes
    USER#<id>     PROFILE      email, name, role, type=USER, created_at
    USER#<id>     ORDER#<oid>  total, status, items
    ORDER#<oid>   DETAIL       user_id, total, status, type=ORDER, created_at
    PRODUCT#<id>  METADATA     name, price, stock, type=PRODUCT, created_at
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PARTITION_KEY = "PK"
SORT_KEY = "SK"
EMAIL_INDEX = "EmailIndex"
TIMESTAMP_INDEX = "TimestampIndex"
EMAIL_ATTRIBUTE = "email"
TYPE_ATTRIBUTE = "type"
CREATED_AT_ATTRIBUTE = "created_at"

USER_PREFIX = "USER#"
ORDER_PREFIX = "ORDER#"
PRODUCT_PREFIX = "PRODUCT#"
PROFILE = "PROFILE"
DETAIL = "DETAIL"
METADATA = "METADATA"

# Values of the `type` attribute, the TimestampIndex partition key.
USER_TYPE = "USER"
ORDER_TYPE = "ORDER"
PRODUCT_TYPE = "PRODUCT"

Key = dict[str, str]
"""A primary key in plain form: {"PK": ..., "SK": ...}."""


def _id(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if "#" in value:
        raise ValueError(f"{what} must not contain '#' (the key separator): {value!r}")
    return value


def user_pk(user_id: str) -> str:
    return USER_PREFIX + _id(user_id, "user id")


def order_pk(order_id: str) -> str:
    return ORDER_PREFIX + _id(order_id, "order id")


def order_sk(order_id: str) -> str:
    """The sort key of an order under its user: ORDER#<id> (same text as the order's PK)."""
    return ORDER_PREFIX + _id(order_id, "order id")


def product_pk(product_id: str) -> str:
    return PRODUCT_PREFIX + _id(product_id, "product id")


def key(pk: str, sk: str) -> Key:
    return {PARTITION_KEY: pk, SORT_KEY: sk}


def user_profile_key(user_id: str) -> Key:
    return key(user_pk(user_id), PROFILE)


def user_order_key(user_id: str, order_id: str) -> Key:
    return key(user_pk(user_id), order_sk(order_id))


def order_detail_key(order_id: str) -> Key:
    return key(order_pk(order_id), DETAIL)


def product_metadata_key(product_id: str) -> Key:
    return key(product_pk(product_id), METADATA)


@dataclass(frozen=True)
class IndexRequirement:
    name: str
    partition_key: str
    sort_key: str | None
    projection: str = "ALL"


@dataclass(frozen=True)
class SchemaRequirement:
    partition_key: str
    sort_key: str
    indexes: tuple[IndexRequirement, ...]


REQUIRED_SCHEMA = SchemaRequirement(
    partition_key=PARTITION_KEY,
    sort_key=SORT_KEY,
    indexes=(
        IndexRequirement(EMAIL_INDEX, EMAIL_ATTRIBUTE, None),
        IndexRequirement(TIMESTAMP_INDEX, TYPE_ATTRIBUTE, CREATED_AT_ATTRIBUTE),
    ),
)


def _key_schema(schema: object) -> tuple[str | None, str | None]:
    hash_key = range_key = None
    for element in schema if isinstance(schema, list) else []:
        if isinstance(element, Mapping):
            if element.get("KeyType") == "HASH":
                hash_key = element.get("AttributeName")
            elif element.get("KeyType") == "RANGE":
                range_key = element.get("AttributeName")
    return hash_key, range_key


def missing_from(definition: Mapping[str, Any]) -> list[str]:
    """What the access patterns need that a table definition lacks; empty when it serves them.

    ``definition`` has CreateTable's / CloudFormation's shape: KeySchema,
    AttributeDefinitions, GlobalSecondaryIndexes (with KeySchema and Projection).
    """
    problems: list[str] = []
    types = {
        d.get("AttributeName"): d.get("AttributeType")
        for d in definition.get("AttributeDefinitions") or []
        if isinstance(d, Mapping)
    }

    def need_string(attribute: str, where: str) -> None:
        if types.get(attribute) != "S":
            problems.append(f"{where}: attribute {attribute!r} must be defined as a string (S)")

    want = REQUIRED_SCHEMA
    have = _key_schema(definition.get("KeySchema"))
    if have != (want.partition_key, want.sort_key):
        problems.append(f"table key must be ({want.partition_key}, {want.sort_key}), found {have}")
    need_string(want.partition_key, "table key")
    need_string(want.sort_key, "table key")
    indexes = {
        gsi.get("IndexName"): gsi
        for gsi in definition.get("GlobalSecondaryIndexes") or []
        if isinstance(gsi, Mapping)
    }
    for index in want.indexes:
        gsi = indexes.get(index.name)
        if gsi is None:
            problems.append(f"global secondary index {index.name!r} is missing")
            continue
        found = _key_schema(gsi.get("KeySchema"))
        if found != (index.partition_key, index.sort_key):
            problems.append(
                f"{index.name}: key must be ({index.partition_key}, {index.sort_key}),"
                f" found {found}"
            )
        projection = (gsi.get("Projection") or {}).get("ProjectionType")
        if projection != index.projection:
            problems.append(
                f"{index.name}: projection must be {index.projection}, found {projection}"
            )
        need_string(index.partition_key, index.name)
        if index.sort_key:
            need_string(index.sort_key, index.name)
    return problems
