"""The access patterns need nothing beyond what the published policies allow.

Every DynamoDB request the repository sends (recorded by botocore's own
events, on the moto server) is turned into the IAM actions and resources
DynamoDB authorizes it with, and checked against the app_rw policy from the
synthesized dev template; the read patterns against app_ro. A pattern that
started to Scan, or to use a new GSI, would fail here before any deploy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from appdata.dynamo import AppDataRepository
from appdata.keys import ORDER_TYPE, user_profile_key
from tests.fixtures.synth import Synthesized

# TransactWriteItems/TransactGetItems have no IAM action of their own: each item is
# authorized as the single-item call it is.
TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}

INDEX_SUFFIX = re.compile(r'/index/([A-Za-z0-9_.-]+)"')

Needed = set[tuple[str, str]]
"""(IAM action, "table" or "index/<name>")"""


def needed(operation: str, params: dict[str, Any]) -> Needed:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return {
            (TRANSACT_ITEM_ACTIONS[kind], "table")
            for item in params["TransactItems"]
            for kind in item
        }
    where = f"index/{params['IndexName']}" if params.get("IndexName") else "table"
    return {(f"dynamodb:{operation}", where)}


def allowed(synthesized: Synthesized, role: str) -> Needed:
    (policy,) = [
        body["Properties"]["PolicyDocument"]["Statement"]
        for body in synthesized.resources("dev", "AWS::IAM::ManagedPolicy").values()
        if body["Properties"]["Description"].endswith(f" as {role}")
    ]
    found: Needed = set()
    for statement in policy:
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in resources if isinstance(resources, list) else [resources]:
                index = INDEX_SUFFIX.search(json.dumps(resource))
                found.add((action, f"index/{index.group(1)}" if index else "table"))
    return found


@pytest.fixture
def recorded(dynamodb: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    dynamodb.meta.events.register("provide-client-params.dynamodb", record)
    yield calls
    dynamodb.meta.events.unregister("provide-client-params.dynamodb", record)


def read_patterns(repo: AppDataRepository) -> None:
    repo.get_user_profile("1")
    repo.get_order_detail("o1")
    repo.get_product("p1")
    repo.get_user_orders("1", limit=1)
    repo.find_user_by_email("ann@example.com")
    repo.recent_items(ORDER_TYPE, limit=5)
    repo.batch_get([user_profile_key("1"), user_profile_key("2")])
    repo.batch_get_user_profiles(["1"])


def write_patterns(repo: AppDataRepository) -> None:
    repo.create_user("1", email="ann@example.com", name="Ann")
    repo.create_order("1", "o1", total=10, status="new")
    repo.put_product("p1", name="Pen", price=2, stock=5)


def test_the_read_write_policy_allows_every_pattern(
    repo: AppDataRepository, recorded: list[tuple[str, dict[str, Any]]], synthesized: Synthesized
) -> None:
    write_patterns(repo)
    read_patterns(repo)
    sent = {operation for operation, _ in recorded}
    assert {"GetItem", "PutItem", "Query", "BatchGetItem", "TransactWriteItems"} <= sent
    wanted = set().union(*(needed(operation, params) for operation, params in recorded))
    assert wanted - allowed(synthesized, "app_rw") == set()


def test_the_read_only_policy_allows_every_read(
    repo: AppDataRepository, recorded: list[tuple[str, dict[str, Any]]], synthesized: Synthesized
) -> None:
    write_patterns(repo)
    recorded.clear()
    read_patterns(repo)
    wanted = set().union(*(needed(operation, params) for operation, params in recorded))
    assert ("dynamodb:Query", "index/EmailIndex") in wanted
    assert wanted - allowed(synthesized, "app_ro") == set()


def test_the_read_only_policy_refuses_the_writes(
    repo: AppDataRepository, recorded: list[tuple[str, dict[str, Any]]], synthesized: Synthesized
) -> None:
    write_patterns(repo)
    wanted = set().union(*(needed(operation, params) for operation, params in recorded))
    assert wanted - allowed(synthesized, "app_ro") == {("dynamodb:PutItem", "table")}
