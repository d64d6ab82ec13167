"""Every DynamoDB access pattern of the standards, against moto over HTTP, on the table
built from the synthesized template."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from appdata.dynamo import (
    AppDataRepository,
    BatchGetIncompleteError,
    InvalidCursorError,
    OrderAlreadyExistsError,
    RetryPolicy,
    UserAlreadyExistsError,
)
from appdata.keys import (
    ORDER_TYPE,
    PRODUCT_TYPE,
    USER_TYPE,
    order_detail_key,
    product_metadata_key,
    user_profile_key,
)


def test_create_user_then_get_profile(repo: AppDataRepository, dynamodb: Any) -> None:
    repo.create_user("123", email="ann@example.com", name="Ann", created_at="2026-01-14T10:00:00Z")

    profile = repo.get_user_profile("123")
    assert profile == {
        "PK": "USER#123",
        "SK": "PROFILE",
        "id": "123",
        "email": "ann@example.com",
        "name": "Ann",
        "role": "user",
        "type": USER_TYPE,
        "created_at": "2026-01-14T10:00:00Z",
    }
    assert repo.get_user_profile("404") is None
    # Stored under the standards' key, not some other layout.
    raw = dynamodb.get_item(
        TableName=repo.table_name, Key={"PK": {"S": "USER#123"}, "SK": {"S": "PROFILE"}}
    )
    assert raw["Item"]["email"] == {"S": "ann@example.com"}


def test_second_create_fails_clearly_and_keeps_the_first(repo: AppDataRepository) -> None:
    repo.create_user("123", email="ann@example.com", name="Ann")

    with pytest.raises(UserAlreadyExistsError, match=r"user '123' already exists") as caught:
        repo.create_user("123", email="mallory@example.com", name="Mallory")

    assert caught.value.user_id == "123"
    profile = repo.get_user_profile("123", consistent=True)
    assert profile is not None
    assert (profile["name"], profile["email"]) == ("Ann", "ann@example.com")


def test_user_orders_begin_with_order_prefix_and_exclude_the_profile(
    repo: AppDataRepository,
) -> None:
    repo.create_user("u1", email="u1@example.com", name="U1")
    repo.create_user("u2", email="u2@example.com", name="U2")
    for n in (1, 2, 3):
        repo.create_order(
            "u1", f"00{n}", total=Decimal(f"{n}.50"), status="paid", items=[{"sku": "A", "qty": n}]
        )
    repo.create_order("u2", "009", total=7, status="new")

    orders = repo.get_user_orders("u1")

    assert [o["SK"] for o in orders.items] == ["ORDER#001", "ORDER#002", "ORDER#003"]
    assert orders.cursor is None
    assert orders.items[1]["total"] == Decimal("2.50")
    assert orders.items[2]["items"] == [{"sku": "A", "qty": Decimal(3)}]
    assert repo.get_user_orders("nobody").items == []


def test_order_detail_written_with_the_order(repo: AppDataRepository) -> None:
    repo.create_order("u1", "001", total=42, status="paid", created_at="2026-01-14T10:00:00Z")

    detail = repo.get_order_detail("001")

    assert detail is not None
    assert detail["PK"] == "ORDER#001" and detail["SK"] == "DETAIL"
    assert (detail["user_id"], detail["total"], detail["type"]) == ("u1", Decimal(42), ORDER_TYPE)
    assert detail["created_at"] == "2026-01-14T10:00:00Z"
    assert repo.get_order_detail("002") is None


def test_duplicate_order_writes_nothing(repo: AppDataRepository) -> None:
    repo.create_order("u1", "001", total=1, status="paid")

    with pytest.raises(OrderAlreadyExistsError, match="order '001' already exists"):
        repo.create_order("u2", "001", total=999, status="new")

    detail = repo.get_order_detail("001", consistent=True)
    assert detail is not None and detail["user_id"] == "u1"
    assert repo.get_user_orders("u2").items == []


def test_find_user_by_email_uses_email_index(repo: AppDataRepository, dynamodb: Any) -> None:
    repo.create_user("1", email="ann@example.com", name="Ann")
    repo.create_user("2", email="bob@example.com", name="Bob")
    calls: list[dict[str, Any]] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: calls.append(dict(params))
    )

    found = repo.find_user_by_email("bob@example.com")

    assert found is not None and found["id"] == "2"
    assert calls and calls[0]["IndexName"] == "EmailIndex"
    assert repo.find_user_by_email("nobody@example.com") is None


def test_recent_items_newest_first_through_timestamp_index(
    repo: AppDataRepository, dynamodb: Any
) -> None:
    for day in range(1, 8):
        repo.put_product(
            f"p{day}", name=f"P{day}", price=day, stock=1, created_at=f"2026-01-0{day}T00:00:00Z"
        )
    repo.create_user("u", email="u@example.com", name="U", created_at="2026-01-09T00:00:00Z")
    calls: list[dict[str, Any]] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: calls.append(dict(params))
    )

    recent = repo.recent_items(PRODUCT_TYPE, limit=3)

    assert [i["product_id"] for i in recent.items] == ["p7", "p6", "p5"]
    assert calls[0]["IndexName"] == "TimestampIndex"
    assert calls[0]["ScanIndexForward"] is False and calls[0]["Limit"] == 3
    assert recent.cursor is not None
    since = repo.recent_items(PRODUCT_TYPE, limit=10, since="2026-01-06T00:00:00Z")
    assert [i["product_id"] for i in since.items] == ["p7", "p6"]
    assert [i["id"] for i in repo.recent_items(USER_TYPE).items] == ["u"]


def test_recent_items_paginate_with_an_opaque_cursor(repo: AppDataRepository) -> None:
    for n in range(10):
        repo.put_product(f"p{n}", name="x", price=1, stock=1, created_at=f"2026-02-01T00:00:0{n}Z")

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = repo.recent_items(PRODUCT_TYPE, limit=4, cursor=cursor)
        seen += [i["product_id"] for i in page.items]
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
        assert "PRODUCT#" not in cursor  # opaque: no raw key in it

    assert seen == [f"p{n}" for n in range(9, -1, -1)]
    assert pages in (3, 4)  # 4+4+2 (DynamoDB may end on an empty page)


def test_user_orders_paginate_without_gaps_or_repeats(repo: AppDataRepository) -> None:
    for n in range(25):
        repo.create_order("u1", f"{n:03d}", total=n, status="paid")

    seen: list[str] = []
    page = repo.get_user_orders("u1", limit=10)
    seen += [o["order_id"] for o in page.items]
    while page.cursor:
        page = repo.get_user_orders("u1", limit=10, cursor=page.cursor)
        seen += [o["order_id"] for o in page.items]

    assert seen == [f"{n:03d}" for n in range(25)]


def test_cursor_is_bound_to_its_query(repo: AppDataRepository) -> None:
    for n in range(3):
        repo.create_order("u1", f"{n}", total=n, status="paid")
    cursor = repo.get_user_orders("u1", limit=1).cursor
    assert cursor is not None

    with pytest.raises(InvalidCursorError, match="does not belong to this query"):
        repo.get_user_orders("u2", limit=1, cursor=cursor)
    with pytest.raises(InvalidCursorError, match="does not belong to this query"):
        repo.recent_items(ORDER_TYPE, cursor=cursor)
    with pytest.raises(InvalidCursorError, match="malformed"):
        repo.get_user_orders("u1", cursor="not-a-cursor!!")
    with pytest.raises(ValueError, match="limit"):
        repo.get_user_orders("u1", limit=0)


def test_batch_get_mixed_keys_dedupes_and_skips_missing(repo: AppDataRepository) -> None:
    repo.create_user("1", email="a@example.com", name="A")
    repo.create_order("1", "001", total=1, status="paid")
    repo.put_product("p", name="P", price=3, stock=2)

    items = repo.batch_get(
        [
            user_profile_key("1"),
            user_profile_key("1"),
            order_detail_key("001"),
            product_metadata_key("p"),
            user_profile_key("missing"),
        ]
    )

    assert sorted((i["PK"], i["SK"]) for i in items) == [
        ("ORDER#001", "DETAIL"),
        ("PRODUCT#p", "METADATA"),
        ("USER#1", "PROFILE"),
    ]


def test_batch_get_more_than_100_keys(repo: AppDataRepository) -> None:
    for n in range(130):
        repo.create_user(str(n), email=f"u{n}@example.com", name="x")

    items = repo.batch_get_user_profiles(str(n) for n in range(130))

    assert sorted(int(i["id"]) for i in items) == list(range(130))


class _Throttling:
    """Passes calls to the real client, but BatchGetItem leaves keys unprocessed: all but
    ``served`` keys of each request, for the first ``times`` requests (forever if None)."""

    def __init__(self, client: Any, *, served: int, times: int | None) -> None:
        self._client = client
        self._served = served
        self._times = times
        self.requests: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]:
        ((table, request),) = kwargs["RequestItems"].items()
        keys = request["Keys"]
        self.requests.append(len(keys))
        if self._times is not None and len(self.requests) > self._times:
            return dict(self._client.batch_get_item(**kwargs))
        served, left = keys[: self._served], keys[self._served :]
        response: dict[str, Any] = {"Responses": {table: []}}
        if served:
            response = dict(
                self._client.batch_get_item(RequestItems={table: {**request, "Keys": served}})
            )
        response["UnprocessedKeys"] = {table: {**request, "Keys": left}} if left else {}
        return response


def test_batch_get_retries_unprocessed_keys_with_backoff(
    repo: AppDataRepository, dynamodb: Any
) -> None:
    for n in range(10):
        repo.create_user(str(n), email=f"u{n}@example.com", name="x")
    throttled = _Throttling(dynamodb, served=3, times=2)
    delays: list[float] = []
    patient = AppDataRepository(
        throttled,
        repo.table_name,
        retry=RetryPolicy(max_attempts=5, base_delay=0.1),
        sleep=delays.append,
    )

    items = patient.batch_get_user_profiles(str(n) for n in range(10))

    assert sorted(int(i["id"]) for i in items) == list(range(10))
    assert throttled.requests == [10, 7, 4]  # only the unprocessed keys are sent again
    assert len(delays) == 2
    assert 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2  # exponential, jittered


def test_batch_get_gives_up_after_bounded_attempts(repo: AppDataRepository, dynamodb: Any) -> None:
    for n in range(5):
        repo.create_user(str(n), email=f"u{n}@example.com", name="x")
    throttled = _Throttling(dynamodb, served=0, times=None)
    delays: list[float] = []
    patient = AppDataRepository(
        throttled,
        repo.table_name,
        retry=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02),
        sleep=delays.append,
    )

    with pytest.raises(BatchGetIncompleteError, match=r"5 key\(s\) unprocessed after 4 attempts"):
        patient.batch_get_user_profiles(str(n) for n in range(5))

    assert len(throttled.requests) == 4 and len(delays) == 3
    assert max(delays) <= 0.02


def test_keys_reject_ids_that_would_forge_another_key(repo: AppDataRepository) -> None:
    with pytest.raises(ValueError, match="must not contain '#'"):
        repo.get_user_profile("1#PROFILE")
    with pytest.raises(ValueError, match="non-empty"):
        repo.create_user("", email="a@example.com", name="A")


def test_from_env_reads_the_table_name(
    monkeypatch: pytest.MonkeyPatch, dynamodb: Any, dev_table: Any
) -> None:
    monkeypatch.setenv("APPDATA_TABLE_NAME", dev_table.table_name)
    repo = AppDataRepository.from_env(dynamodb)
    repo.create_user("1", email="a@example.com", name="A")
    assert repo.get_user_profile("1") is not None
    monkeypatch.delenv("APPDATA_TABLE_NAME")
    with pytest.raises(Exception, match="APPDATA_TABLE_NAME"):
        AppDataRepository.from_env(dynamodb)
