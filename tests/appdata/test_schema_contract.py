"""The table in the stack serves the access patterns: the names they use exist there.

These fail when a GSI or key attribute the patterns need disappears from (or
changes in) the synthesized template, and there is a single source for the names.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from appdata import keys
from data_constructs import app_data_table
from devtools.dynamodb_local import table_from_template
from tests.fixtures.synth import ENVIRONMENTS, Synthesized

PACKAGE = Path(keys.__file__).parent


def _definition(template: dict[str, Any]) -> dict[str, Any]:
    return table_from_template(template).create_table_request()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environments_table_serves_the_patterns(synthesized: Synthesized, env: str) -> None:
    assert keys.missing_from(_definition(synthesized.raw[env])) == []


def test_the_construct_takes_its_names_from_appdata() -> None:
    for name in ("PARTITION_KEY", "SORT_KEY", "EMAIL_INDEX", "TIMESTAMP_INDEX"):
        assert getattr(app_data_table, name) is getattr(keys, name)


def _table(template: dict[str, Any]) -> dict[str, Any]:
    (props,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::GlobalTable"
    ]
    return props


def _drop_index(props: dict[str, Any], name: str) -> None:
    props["GlobalSecondaryIndexes"] = [
        g for g in props["GlobalSecondaryIndexes"] if g["IndexName"] != name
    ]


def _rename_attribute(props: dict[str, Any], old: str, new: str) -> None:
    for d in props["AttributeDefinitions"]:
        if d["AttributeName"] == old:
            d["AttributeName"] = new
    for schema in [props["KeySchema"], *(g["KeySchema"] for g in props["GlobalSecondaryIndexes"])]:
        for k in schema:
            if k["AttributeName"] == old:
                k["AttributeName"] = new


MUTATIONS = {
    "EmailIndex dropped": (lambda p: _drop_index(p, "EmailIndex"), "'EmailIndex' is missing"),
    "TimestampIndex dropped": (
        lambda p: _drop_index(p, "TimestampIndex"),
        "'TimestampIndex' is missing",
    ),
    "sort key renamed": (lambda p: _rename_attribute(p, "SK", "sk"), "table key must be (PK, SK)"),
    "email renamed": (
        lambda p: _rename_attribute(p, "email", "mail"),
        "EmailIndex: key must be (email, None)",
    ),
    "created_at renamed": (
        lambda p: _rename_attribute(p, "created_at", "createdAt"),
        "TimestampIndex: key must be (type, created_at)",
    ),
    "keys-only projection": (
        lambda p: p["GlobalSecondaryIndexes"][0].update(Projection={"ProjectionType": "KEYS_ONLY"}),
        "projection must be ALL",
    ),
    "numeric type": (
        lambda p: next(d for d in p["AttributeDefinitions"] if d["AttributeName"] == "type").update(
            AttributeType="N"
        ),
        "attribute 'type' must be defined as a string",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_template_without_what_the_patterns_need_is_caught(
    synthesized: Synthesized, mutation: str
) -> None:
    change, expected = MUTATIONS[mutation]
    template = copy.deepcopy(synthesized.raw["dev"])
    change(_table(template))

    problems = keys.missing_from(_definition(template))

    assert any(expected in p for p in problems), problems


def test_no_scan_anywhere_in_the_package() -> None:
    pattern = re.compile(r"scan\s*\(|\.scan\b|[\"']Scan[\"']|ScanInput")
    offenders = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
    assert len(list(PACKAGE.rglob("*.py"))) >= 4  # the grep looked at the real package


def test_appdata_does_not_import_cdk() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert not re.search(
            r"^\s*(from|import)\s+(aws_cdk|constructs)\b", path.read_text(), re.M
        ), path
