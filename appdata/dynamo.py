"""The standards' DynamoDB access patterns on the AppData single table, over boto3.

Every read is a GetItem, a Query on the table or on a GSI, or a BatchGetItem:
there is no Scan in this package (a test greps for it, and the tests' client
refuses the operation).

    repo = AppDataRepository.from_env()         # APPDATA_TABLE_NAME, AWS_* settings
    repo.create_user("123", email="a@example.com", name="Ann")
    repo.get_user_profile("123")
    page = repo.get_user_orders("123", limit=10)
    more = repo.get_user_orders("123", limit=10, cursor=page.cursor)

Items come back as plain Python values (numbers as ``Decimal``, boto3's
convention). Paginated queries return a `Page` whose ``cursor`` is an opaque
string (the LastEvaluatedKey, bound to the query that produced it), or ``None``
on the last page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from appdata.keys import (
    CREATED_AT_ATTRIBUTE,
    EMAIL_ATTRIBUTE,
    EMAIL_INDEX,
    ORDER_PREFIX,
    ORDER_TYPE,
    PARTITION_KEY,
    PRODUCT_TYPE,
    SORT_KEY,
    TIMESTAMP_INDEX,
    TYPE_ATTRIBUTE,
    USER_TYPE,
    Key,
    order_detail_key,
    product_metadata_key,
    user_order_key,
    user_pk,
    user_profile_key,
)

TABLE_NAME_VARIABLE = "APPDATA_TABLE_NAME"
BATCH_GET_LIMIT = 100  # keys per BatchGetItem request (the service's limit)

Item = dict[str, Any]
"""An item as plain Python values."""
WireItem = dict[str, Any]
"""An item in DynamoDB's attribute-value form ({"S": ...}, {"N": ...})."""


class DynamoDBClient(Protocol):
    """The part of a boto3 ``dynamodb`` client these patterns use (no ``Scan``)."""

    def get_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def put_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def query(self, **kwargs: Any) -> dict[str, Any]: ...

    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def update_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]: ...


class AppDataError(Exception):
    """Base class of this module's errors."""


class UserAlreadyExistsError(AppDataError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"user {user_id!r} already exists (USER#{user_id} / PROFILE)")
        self.user_id = user_id


class UserNotFoundError(AppDataError, LookupError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"no user {user_id!r} (USER#{user_id} / PROFILE)")
        self.user_id = user_id


class OrderAlreadyExistsError(AppDataError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} already exists")
        self.order_id = order_id


class InvalidCursorError(AppDataError, ValueError):
    """A cursor that this query did not produce (tampered with, or from another query)."""


class BatchGetIncompleteError(AppDataError):
    """BatchGetItem still left keys unprocessed after every retry."""

    def __init__(self, unprocessed: int, attempts: int) -> None:
        super().__init__(
            f"BatchGetItem left {unprocessed} key(s) unprocessed after {attempts} attempts"
            " (throttled?); retry later"
        )
        self.unprocessed = unprocessed
        self.attempts = attempts


@dataclass(frozen=True)
class Page:
    items: list[Item]
    cursor: str | None
    """Pass to the same query to get the next page; ``None`` on the last page."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter for unprocessed batch keys."""

    max_attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 2.0

    def delay(self, retry: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2**retry)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_wire(item: Mapping[str, Any]) -> WireItem:
    """Plain values to attribute values (floats are refused by boto3: use Decimal)."""
    return {name: _serializer.serialize(value) for name, value in item.items()}


def from_wire(item: Mapping[str, Any]) -> Item:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def now_iso() -> str:
    """UTC time as ISO 8601 with microseconds: sorts as a string, as TimestampIndex needs."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _is_conditional_failure(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _cancelled_on_condition(error: ClientError) -> bool:
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
        return True
    return "ConditionalCheckFailed" in str(error.response.get("Error", {}).get("Message", ""))


class AppDataRepository:
    """The access patterns of the standards on one AppData table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not table_name:
            raise ValueError("table_name must not be empty")
        self._client = client
        self.table_name = table_name
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    @classmethod
    def from_env(cls, client: DynamoDBClient | None = None) -> AppDataRepository:
        """Table from ``APPDATA_TABLE_NAME``; client from boto3's usual settings.

        boto3 reads ``AWS_ENDPOINT_URL_DYNAMODB`` itself, so the `.env` that
        ``make local`` writes points this at the local endpoint.
        """
        table = os.environ.get(TABLE_NAME_VARIABLE)
        if not table:
            raise AppDataError(f"set {TABLE_NAME_VARIABLE} to the AppData table's name")
        if client is None:
            client = boto3.client("dynamodb")
        return cls(client, table)

    # -- single items --------------------------------------------------------

    def _get(self, key: Key, *, consistent: bool) -> Item | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=to_wire(key), ConsistentRead=consistent
        )
        item = response.get("Item")
        return from_wire(item) if item else None

    def get_user_profile(self, user_id: str, *, consistent: bool = False) -> Item | None:
        """PK = USER#<id>, SK = PROFILE."""
        return self._get(user_profile_key(user_id), consistent=consistent)

    def get_order_detail(self, order_id: str, *, consistent: bool = False) -> Item | None:
        """PK = ORDER#<id>, SK = DETAIL."""
        return self._get(order_detail_key(order_id), consistent=consistent)

    def get_product(self, product_id: str, *, consistent: bool = False) -> Item | None:
        """PK = PRODUCT#<id>, SK = METADATA."""
        return self._get(product_metadata_key(product_id), consistent=consistent)

    def create_user(
        self,
        user_id: str,
        *,
        email: str,
        name: str,
        role: str = "user",
        created_at: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Item:
        """Put the profile unless it exists (``attribute_not_exists(PK)``), else raise
        `UserAlreadyExistsError`. Never overwrites."""
        item: Item = {
            **(attributes or {}),
            **user_profile_key(user_id),
            "id": user_id,
            EMAIL_ATTRIBUTE: email,
            "name": name,
            "role": role,
            TYPE_ATTRIBUTE: USER_TYPE,
            CREATED_AT_ATTRIBUTE: created_at or now_iso(),
        }
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=to_wire(item),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise UserAlreadyExistsError(user_id) from error
            raise
        return item

    def update_user_profile(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        role: str | None = None,
    ) -> Item:
        """Set the given fields of an existing profile (``attribute_exists(PK)``, else
        `UserNotFoundError`); returns the profile as stored now."""
        changes = {
            attribute: value
            for attribute, value in ((EMAIL_ATTRIBUTE, email), ("name", name), ("role", role))
            if value is not None
        }
        if not changes:
            raise ValueError("update_user_profile needs at least one of email, name, role")
        names = {f"#a{n}": attribute for n, attribute in enumerate(changes)}
        values = {f":v{n}": value for n, value in enumerate(changes.values())}
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key=to_wire(user_profile_key(user_id)),
                UpdateExpression="SET " + ", ".join(f"#a{n} = :v{n}" for n in range(len(changes))),
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={**names, "#pk": PARTITION_KEY},
                ExpressionAttributeValues=to_wire(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise UserNotFoundError(user_id) from error
            raise
        return from_wire(response["Attributes"])

    def create_order(
        self,
        user_id: str,
        order_id: str,
        *,
        total: Decimal | int,
        status: str,
        items: Sequence[Mapping[str, Any]] = (),
        created_at: str | None = None,
    ) -> Item:
        """Write USER#<u>/ORDER#<o> and ORDER#<o>/DETAIL together (one transaction),
        neither overwriting; `OrderAlreadyExistsError` if the order exists."""
        created = created_at or now_iso()
        summary: Item = {
            **user_order_key(user_id, order_id),
            "order_id": order_id,
            "total": total,
            "status": status,
            "items": [dict(i) for i in items],
            CREATED_AT_ATTRIBUTE: created,
        }
        detail: Item = {
            **order_detail_key(order_id),
            "order_id": order_id,
            "user_id": user_id,
            "total": total,
            "status": status,
            TYPE_ATTRIBUTE: ORDER_TYPE,
            CREATED_AT_ATTRIBUTE: created,
        }
        guard = {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
        }
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table_name, "Item": to_wire(summary), **guard}},
                    {"Put": {"TableName": self.table_name, "Item": to_wire(detail), **guard}},
                ]
            )
        except ClientError as error:
            if _cancelled_on_condition(error):
                raise OrderAlreadyExistsError(order_id) from error
            raise
        return detail

    def put_product(
        self,
        product_id: str,
        *,
        name: str,
        price: Decimal | int,
        stock: int,
        created_at: str | None = None,
    ) -> Item:
        """PRODUCT#<id> / METADATA (create or replace)."""
        item: Item = {
            **product_metadata_key(product_id),
            "product_id": product_id,
            "name": name,
            "price": price,
            "stock": stock,
            TYPE_ATTRIBUTE: PRODUCT_TYPE,
            CREATED_AT_ATTRIBUTE: created_at or now_iso(),
        }
        self._client.put_item(TableName=self.table_name, Item=to_wire(item))
        return item

    # -- queries -------------------------------------------------------------

    def _query(
        self,
        *,
        index: str | None,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        limit: int | None,
        cursor: str | None,
        forward: bool = True,
    ) -> Page:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_wire(values),
            "ScanIndexForward": forward,
        }
        if index is not None:
            request["IndexName"] = index
        if limit is not None:
            request["Limit"] = limit
        binding = _query_binding(self.table_name, index, condition, values, forward)
        if cursor is not None:
            request["ExclusiveStartKey"] = decode_cursor(cursor, binding)
        response = self._client.query(**request)
        last = response.get("LastEvaluatedKey")
        return Page(
            items=[from_wire(i) for i in response.get("Items", [])],
            cursor=encode_cursor(last, binding) if last else None,
        )

    def get_user_orders(
        self, user_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """PK = USER#<id> AND begins_with(SK, "ORDER#"), oldest order id first."""
        return self._query(
            index=None,
            condition="#pk = :pk AND begins_with(#sk, :prefix)",
            names={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            values={":pk": user_pk(user_id), ":prefix": ORDER_PREFIX},
            limit=limit,
            cursor=cursor,
        )

    def find_user_by_email(self, email: str) -> Item | None:
        """EmailIndex (partition key ``email``). DynamoDB does not make the email unique:
        if several profiles share it, the first the index returns."""
        if not email:
            raise ValueError("email must not be empty")
        page = self._query(
            index=EMAIL_INDEX,
            condition="#email = :email",
            names={"#email": EMAIL_ATTRIBUTE},
            values={":email": email},
            limit=1,
            cursor=None,
        )
        return page.items[0] if page.items else None

    def recent_items(
        self,
        item_type: str,
        *,
        limit: int = 20,
        cursor: str | None = None,
        since: str | None = None,
    ) -> Page:
        """TimestampIndex: items of ``type`` newest first (``created_at`` descending),
        optionally only those created at or after ``since`` (ISO 8601)."""
        if not item_type:
            raise ValueError("item_type must not be empty")
        condition = "#type = :type"
        values: dict[str, Any] = {":type": item_type}
        names = {"#type": TYPE_ATTRIBUTE}
        if since is not None:
            condition += " AND #created >= :since"
            names["#created"] = CREATED_AT_ATTRIBUTE
            values[":since"] = since
        return self._query(
            index=TIMESTAMP_INDEX,
            condition=condition,
            names=names,
            values=values,
            limit=limit,
            cursor=cursor,
            forward=False,
        )

    # -- batch ---------------------------------------------------------------

    def batch_get(self, keys: Iterable[Key], *, consistent: bool = False) -> list[Item]:
        """Fetch many items by key (any kind), 100 keys per request; keys DynamoDB leaves
        unprocessed are retried with bounded exponential backoff, then
        `BatchGetIncompleteError`. Duplicate keys are fetched once; missing items are
        absent from the result, whose order is not the keys' order."""
        unique: dict[tuple[str, str], Key] = {}
        for k in keys:
            unique.setdefault((k[PARTITION_KEY], k[SORT_KEY]), k)
        wanted = [to_wire(k) for k in unique.values()]
        found: list[Item] = []
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            found += self._batch_chunk(wanted[start : start + BATCH_GET_LIMIT], consistent)
        return found

    def batch_get_user_profiles(self, user_ids: Iterable[str]) -> list[Item]:
        return self.batch_get(user_profile_key(u) for u in user_ids)

    def _batch_chunk(self, keys: list[WireItem], consistent: bool) -> list[Item]:
        found: list[Item] = []
        pending = keys
        attempts = 0
        while pending:
            if attempts == self._retry.max_attempts:
                raise BatchGetIncompleteError(len(pending), attempts)
            if attempts:
                self._sleep(self._retry.delay(attempts - 1))
            attempts += 1
            response = self._client.batch_get_item(
                RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": consistent}}
            )
            found += [from_wire(i) for i in response.get("Responses", {}).get(self.table_name, [])]
            unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
            pending = list(unprocessed["Keys"]) if unprocessed else []
        return found


# -- cursors -----------------------------------------------------------------


def _query_binding(
    table: str, index: str | None, condition: str, values: Mapping[str, Any], forward: bool
) -> str:
    """A short digest of the query, so that a cursor only continues the query it came from."""
    identity = json.dumps(
        [table, index, condition, sorted((k, str(v)) for k, v in values.items()), forward]
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def encode_cursor(last_evaluated_key: Mapping[str, Any], binding: str) -> str:
    """LastEvaluatedKey (attribute-value form) to an opaque URL-safe string."""
    document = json.dumps({"q": binding, "k": last_evaluated_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, binding: str) -> WireItem:
    """The ExclusiveStartKey in ``cursor``; `InvalidCursorError` unless this query made it."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidCursorError("malformed pagination cursor") from error
    if not isinstance(document, dict) or document.get("q") != binding:
        raise InvalidCursorError("pagination cursor does not belong to this query")
    start = document.get("k")
    if (
        not isinstance(start, dict)
        or not start
        or not all(
            isinstance(v, dict) and len(v) == 1 and next(iter(v)) in ("S", "N", "B")
            for v in start.values()
        )
    ):
        raise InvalidCursorError("malformed pagination cursor")
    return start
