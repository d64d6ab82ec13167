"""The local DynamoDB endpoint of ``make local``: moto's server mode and the AppData table.

* `table_from_template` reads the table's definition out of a synthesized
  CloudFormation template (the ``AWS::DynamoDB::GlobalTable`` the CDK construct
  produces, or a plain ``AWS::DynamoDB::Table``), so the local table has the
  stack's key schema, GSIs and TTL, never a hand-kept copy of them.
* `ensure_table` creates it (on-demand, then UpdateTimeToLive) or checks that an
  existing table still has that schema.
* `MotoProcess` runs ``python -m moto.server`` detached (`devtools.detached`), so
  it outlives the command that started it.

moto keeps its data in memory: items survive ``up`` run again, not a stop.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any, ClassVar

from devtools.detached import DetachedServer

TABLE_TYPES = ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table")


class LocalDynamoError(RuntimeError):
    """A one-line reason why the local DynamoDB endpoint could not be set up."""


# -- the table's definition, from the template ------------------------------------------


@dataclass(frozen=True)
class TableDefinition:
    """What CreateTable needs, as the template defines it."""

    logical_id: str
    table_name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]] = field(default_factory=list)
    local_secondary_indexes: list[dict[str, Any]] = field(default_factory=list)
    ttl_attribute: str | None = None
    stream_view_type: str | None = None

    def create_table_request(self, table_name: str | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": table_name or self.table_name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.global_secondary_indexes:
            request["GlobalSecondaryIndexes"] = self.global_secondary_indexes
        if self.local_secondary_indexes:
            request["LocalSecondaryIndexes"] = self.local_secondary_indexes
        if self.stream_view_type:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": self.stream_view_type,
            }
        return request

    def summary(self) -> str:
        keys = "/".join(k["AttributeName"] for k in self.key_schema)
        gsis = ", ".join(g["IndexName"] for g in self.global_secondary_indexes) or "none"
        ttl = f", TTL {self.ttl_attribute}" if self.ttl_attribute else ""
        return f"key {keys}, GSIs {gsis}{ttl}"


def _literal(value: object, where: str) -> Any:
    """A template value that must be a literal (not Ref/Fn::...): the local table needs it."""
    if (
        isinstance(value, Mapping)
        and len(value) == 1
        and next(iter(value)).startswith(("Ref", "Fn::"))
    ):
        raise LocalDynamoError(
            f"{where} is {json.dumps(value)}, not a literal the local table can use"
        )
    return value


def _keys(schema: object, where: str) -> list[dict[str, str]]:
    if not isinstance(schema, list) or not schema:
        raise LocalDynamoError(f"{where}: KeySchema missing")
    return [
        {"AttributeName": str(_literal(k["AttributeName"], where)), "KeyType": str(k["KeyType"])}
        for k in schema
    ]


def _index(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    name = str(_literal(raw.get("IndexName"), where))
    projection_raw = raw.get("Projection") or {"ProjectionType": "ALL"}
    projection: dict[str, Any] = {"ProjectionType": projection_raw.get("ProjectionType", "ALL")}
    if projection_raw.get("NonKeyAttributes"):
        projection["NonKeyAttributes"] = list(projection_raw["NonKeyAttributes"])
    return {
        "IndexName": name,
        "KeySchema": _keys(raw.get("KeySchema"), f"{where} {name}"),
        "Projection": projection,
    }


def table_from_template(
    template: Mapping[str, Any], logical_id: str | None = None
) -> TableDefinition:
    """The DynamoDB table of a synthesized template (the only one, or ``logical_id``)."""
    resources = template.get("Resources") or {}
    tables = {
        lid: body
        for lid, body in resources.items()
        if isinstance(body, Mapping) and body.get("Type") in TABLE_TYPES
    }
    if logical_id is not None:
        tables = {k: v for k, v in tables.items() if k == logical_id}
    if len(tables) != 1:
        raise LocalDynamoError(
            f"expected one DynamoDB table in the template, found {len(tables)}: {sorted(tables)}"
        )
    lid, body = next(iter(tables.items()))
    props: Mapping[str, Any] = body.get("Properties") or {}
    where = f"{lid}.Properties"
    name = props.get("TableName")
    if not name:
        raise LocalDynamoError(f"{where}.TableName is not set: the local table needs a fixed name")
    ttl_spec = props.get("TimeToLiveSpecification") or {}
    ttl = (
        _literal(ttl_spec.get("AttributeName"), f"{where}.TimeToLiveSpecification")
        if (ttl_spec.get("Enabled"))
        else None
    )
    stream = (props.get("StreamSpecification") or {}).get("StreamViewType")
    return TableDefinition(
        logical_id=lid,
        table_name=str(_literal(name, f"{where}.TableName")),
        key_schema=_keys(props.get("KeySchema"), where),
        attribute_definitions=[
            {"AttributeName": str(d["AttributeName"]), "AttributeType": str(d["AttributeType"])}
            for d in props.get("AttributeDefinitions") or []
        ],
        global_secondary_indexes=[
            _index(g, f"{where}.GlobalSecondaryIndexes")
            for g in props.get("GlobalSecondaryIndexes") or []
        ],
        local_secondary_indexes=[
            _index(i, f"{where}.LocalSecondaryIndexes")
            for i in props.get("LocalSecondaryIndexes") or []
        ],
        ttl_attribute=str(ttl) if ttl else None,
        stream_view_type=str(stream) if stream else None,
    )


def load_template(path: Path) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except OSError as error:
        raise LocalDynamoError(f"cannot read {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise LocalDynamoError(f"{path} is not JSON: {error}") from error
    return document


# -- the table itself ------------------------------------------------------------------


def _keys_of(schema: Any) -> tuple[tuple[str, str], ...]:
    return tuple((k["KeyType"], k["AttributeName"]) for k in schema or [])


def _indexes_of(found: Any) -> dict[str, Any]:
    return {
        i["IndexName"]: (
            _keys_of(i["KeySchema"]),
            i.get("Projection", {}).get("ProjectionType"),
            tuple(sorted(i.get("Projection", {}).get("NonKeyAttributes", []))),
        )
        for i in found or []
    }


def _schema(key_schema: Any, attributes: Any, gsis: Any, lsis: Any, ttl: Any) -> dict[str, Any]:
    """A comparable form: keys, attribute types, indexes (keys + projection), TTL."""
    return {
        "key schema": _keys_of(key_schema),
        "attribute definitions": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in attributes or []
        ),
        "global secondary indexes": _indexes_of(gsis),
        "local secondary indexes": _indexes_of(lsis),
        "time to live": ttl,
    }


def schema_differences(definition: TableDefinition, client: Any, table_name: str) -> list[str]:
    """How the existing table differs from the definition (empty: it matches)."""
    table = client.describe_table(TableName=table_name)["Table"]
    ttl_description = client.describe_time_to_live(TableName=table_name).get(
        "TimeToLiveDescription", {}
    )
    ttl = (
        ttl_description.get("AttributeName")
        if ttl_description.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
        else None
    )
    have = _schema(
        table.get("KeySchema"),
        table.get("AttributeDefinitions"),
        table.get("GlobalSecondaryIndexes"),
        table.get("LocalSecondaryIndexes"),
        ttl,
    )
    want = _schema(
        definition.key_schema,
        definition.attribute_definitions,
        definition.global_secondary_indexes,
        definition.local_secondary_indexes,
        definition.ttl_attribute,
    )
    return [
        f"{part}: template {want[part]}, local {have[part]}"
        for part in want
        if want[part] != have[part]
    ]


def ensure_table(definition: TableDefinition, client: Any, table_name: str | None = None) -> bool:
    """Create the table from the definition; True if created, False if it existed with the
    same schema. A table with another schema raises `LocalDynamoError` naming the difference."""
    name = table_name or definition.table_name
    if _table_exists(client, name):
        differences = schema_differences(definition, client, name)
        if differences:
            raise LocalDynamoError(
                f"table {name} exists with a different schema than the template ("
                + "; ".join(differences)
                + "); `make local-reset` recreates it (wipes the local data)"
            )
        return False
    client.create_table(**definition.create_table_request(name))
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    if definition.ttl_attribute:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": definition.ttl_attribute},
        )
    return True


def _table_exists(client: Any, name: str) -> bool:
    try:
        client.describe_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        return False
    return True


def dynamodb_client(endpoint_url: str, region: str) -> Any:
    import boto3  # noqa: PLC0415 - boto3 takes ~0.3 s to import; only `up` needs it

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=DUMMY_ACCESS_KEY,
        aws_secret_access_key=DUMMY_SECRET_KEY,
    )


DUMMY_ACCESS_KEY = "local"
DUMMY_SECRET_KEY = "local"  # noqa: S105 - moto accepts any credentials


# -- the moto server process ----------------------------------------------------------


@dataclass(frozen=True)
class MotoProcess(DetachedServer):
    """``python -m moto.server`` on 127.0.0.1:``port``, its pid file and log in ``directory``."""

    name: ClassVar[str] = "moto server"
    file_stem: ClassVar[str] = "moto"
    port_variable: ClassVar[str] = "LOCAL_DYNAMODB_PORT"
    marker: ClassVar[bytes] = b"moto.server"
    error: ClassVar[type[Exception]] = LocalDynamoError

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def answers(self) -> bool:
        connection = HTTPConnection(self.host, self.port, timeout=2)
        try:
            connection.request("GET", "/moto-api/")
            return connection.getresponse().status < 500
        finally:
            connection.close()
