"""The local table comes from the synthesized template, not from a copy of the schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from devtools.dynamodb_local import (
    LocalDynamoError,
    ensure_table,
    schema_differences,
    table_from_template,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.synth import Synthesized


def _props(template: dict[str, Any]) -> dict[str, Any]:
    (props,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::GlobalTable"
    ]
    return props


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_create_table_request_is_the_templates_definition(
    synthesized: Synthesized, env: str
) -> None:
    props = _props(synthesized.raw[env])

    request = table_from_template(synthesized.raw[env]).create_table_request()

    assert request["TableName"] == props["TableName"]
    assert request["KeySchema"] == props["KeySchema"]
    assert request["AttributeDefinitions"] == props["AttributeDefinitions"]
    assert request["BillingMode"] == "PAY_PER_REQUEST"
    assert request["GlobalSecondaryIndexes"] == [
        {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
        for g in props["GlobalSecondaryIndexes"]
    ]
    stream = props.get("StreamSpecification", {}).get("StreamViewType")
    assert request.get("StreamSpecification", {}).get("StreamViewType") == stream
    assert (env == "prod") == (stream is not None)


def test_ttl_comes_from_the_template(synthesized: Synthesized) -> None:
    template = copy.deepcopy(synthesized.raw["dev"])
    assert (
        table_from_template(template).ttl_attribute
        == _props(template)["TimeToLiveSpecification"]["AttributeName"]
    )
    _props(template)["TimeToLiveSpecification"] = {"AttributeName": "gone_at", "Enabled": True}
    assert table_from_template(template).ttl_attribute == "gone_at"
    del _props(template)["TimeToLiveSpecification"]
    assert table_from_template(template).ttl_attribute is None


def test_template_values_that_are_not_literals_are_refused(synthesized: Synthesized) -> None:
    template = copy.deepcopy(synthesized.raw["dev"])
    _props(template)["TableName"] = {"Ref": "TableNameParameter"}
    with pytest.raises(LocalDynamoError, match=r"TableName is \{\"Ref\".*not a literal"):
        table_from_template(template)
    with pytest.raises(
        LocalDynamoError, match="expected one DynamoDB table in the template, found 0"
    ):
        table_from_template({"Resources": {}})


def test_table_created_with_gsis_and_ttl_then_left_alone(
    moto: MotoServer, synthesized: Synthesized
) -> None:
    client = moto.client("dynamodb")
    definition = table_from_template(synthesized.raw["dev"])

    assert ensure_table(definition, client) is True
    client.put_item(TableName=definition.table_name, Item={"PK": {"S": "a"}, "SK": {"S": "b"}})
    assert ensure_table(definition, client) is False  # idempotent, data kept

    table = client.describe_table(TableName=definition.table_name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert sorted(g["IndexName"] for g in table["GlobalSecondaryIndexes"]) == [
        "EmailIndex",
        "TimestampIndex",
    ]
    ttl = client.describe_time_to_live(TableName=definition.table_name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert client.get_item(
        TableName=definition.table_name, Key={"PK": {"S": "a"}, "SK": {"S": "b"}}
    )["Item"]
    assert schema_differences(definition, client, definition.table_name) == []


def test_existing_table_with_another_schema_is_reported(
    moto: MotoServer, synthesized: Synthesized
) -> None:
    client = moto.client("dynamodb")
    old = copy.deepcopy(synthesized.raw["dev"])
    props = _props(old)
    props["GlobalSecondaryIndexes"] = [
        g for g in props["GlobalSecondaryIndexes"] if g["IndexName"] == "EmailIndex"
    ]
    props["AttributeDefinitions"] = [
        d for d in props["AttributeDefinitions"] if d["AttributeName"] not in ("type", "created_at")
    ]
    ensure_table(table_from_template(old), client)

    with pytest.raises(LocalDynamoError) as caught:
        ensure_table(table_from_template(synthesized.raw["dev"]), client)

    message = str(caught.value)
    assert "table app-data-dev exists with a different schema than the template" in message
    assert "global secondary indexes" in message and "TimestampIndex" in message
    assert "make local-reset" in message
    assert "\n" not in message
