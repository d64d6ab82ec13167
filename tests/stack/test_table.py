"""The AppData table as the standards define it, per environment."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.fixtures.synth import ENVIRONMENTS, Synthesized

TABLE = "AWS::DynamoDB::GlobalTable"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_keys_billing_and_indexes_are_the_standards(synthesized: Synthesized, env: str) -> None:
    synthesized.template(env).has_resource_properties(
        TABLE,
        {
            "KeySchema": [
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "EmailIndex",
                    "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "TimestampIndex",
                    "KeySchema": [
                        {"AttributeName": "type", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                },
            ],
            "AttributeDefinitions": Match.array_with(
                [
                    {"AttributeName": name, "AttributeType": "S"}
                    for name in ("PK", "SK", "email", "type", "created_at")
                ]
            ),
        },
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_table_is_retained_on_delete_and_replace(synthesized: Synthesized, env: str) -> None:
    _, table = synthesized.only(env, TABLE)
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize(("env", "days"), [("dev", 7), ("prod", 35)])
def test_point_in_time_recovery_on_with_configured_period(
    synthesized: Synthesized, env: str, days: int
) -> None:
    """cdk-nag checks only CfnTable, so TableV2's PITR is asserted here."""
    _, table = synthesized.only(env, TABLE)
    (replica,) = table["Properties"]["Replicas"]
    assert replica["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True,
        "RecoveryPeriodInDays": days,
    }


def test_dev_uses_the_aws_managed_key(synthesized: Synthesized) -> None:
    _, table = synthesized.only("dev", TABLE)
    assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert "SSESpecification" not in table["Properties"]["Replicas"][0]
    keys = synthesized.resources("dev", "AWS::KMS::Key").keys()
    assert keys == {  # no table key
        "AuroraClusterKeyA2C8F84D",
        "BackupsKeyC696F888",
        "LogEncryptionKeyA864C340",
    }


def test_prod_uses_its_own_rotating_retained_key(synthesized: Synthesized) -> None:
    _, table = synthesized.only("prod", TABLE)
    (replica,) = table["Properties"]["Replicas"]
    assert replica["SSESpecification"] == {
        "KMSMasterKeyId": {"Fn::GetAtt": ["AppDataTableKeyD4EBE193", "Arn"]}
    }
    key = synthesized.resources("prod", "AWS::KMS::Key")["AppDataTableKeyD4EBE193"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize(
    ("env", "name", "protected"), [("dev", "app-data-dev", False), ("prod", "app-data", True)]
)
def test_name_and_deletion_protection_come_from_config(
    synthesized: Synthesized, env: str, name: str, protected: bool
) -> None:
    _, table = synthesized.only(env, TABLE)
    assert table["Properties"]["TableName"] == name
    assert table["Properties"]["Replicas"][0]["DeletionProtectionEnabled"] is protected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ttl_attribute(synthesized: Synthesized, env: str) -> None:
    _, table = synthesized.only(env, TABLE)
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }


def test_prod_has_stream_and_contributor_insights_dev_does_not(synthesized: Synthesized) -> None:
    _, prod = synthesized.only("prod", TABLE)
    _, dev = synthesized.only("dev", TABLE)
    assert prod["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert "StreamSpecification" not in dev["Properties"]
    assert prod["Properties"]["Replicas"][0]["ContributorInsightsSpecification"] == {
        "Enabled": True
    }
    assert dev["Properties"]["Replicas"][0]["ContributorInsightsSpecification"] == {
        "Enabled": False
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_single_region_standard_class(synthesized: Synthesized, env: str) -> None:
    _, table = synthesized.only(env, TABLE)
    (replica,) = table["Properties"]["Replicas"]
    assert replica["Region"] == "eu-west-1"
    assert replica["TableClass"] == "STANDARD"
