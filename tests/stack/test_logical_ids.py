"""Logical IDs of stateful resources, and of the topic others subscribe to, are part of the
deployed contract.

CloudFormation replaces a resource whose logical ID changes: for these that
means a new, empty table or cluster, or a key that no longer decrypts the old
snapshots. The IDs below are the ones deployed stacks carry; a refactor that
moves a construct must keep them (e.g. with ``override_logical_id``), never
update this list to make the test pass.
"""

from __future__ import annotations

import pytest

from tests.fixtures.synth import ENVIRONMENTS, Synthesized

STATEFUL = {
    "AppDataTable0F9DE268": "AWS::DynamoDB::GlobalTable",
    "AuroraClusterCDFC8250": "AWS::RDS::DBCluster",
    "AuroraClusterKeyA2C8F84D": "AWS::KMS::Key",
    "AuroraClusterSecret8E4F2BC8": "AWS::SecretsManager::Secret",
    "AuroraClusterWriter38835843": "AWS::RDS::DBInstance",
    "AuroraClusterSubnets921ED553": "AWS::RDS::DBSubnetGroup",
    "AuroraClusterParameterGroup123B95C3": "AWS::RDS::DBClusterParameterGroup",
    "BackupsKeyC696F888": "AWS::KMS::Key",
    "BackupsVault1F11AFCC": "AWS::Backup::BackupVault",
    "BackupsAlertTopic0BC42FFE": "AWS::SNS::Topic",
    "LogEncryptionKeyA864C340": "AWS::KMS::Key",
}
PROD_ONLY = {
    "AppDataTableKeyD4EBE193": "AWS::KMS::Key",
    "AuroraClusterReader136442C1D": "AWS::RDS::DBInstance",
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_stateful_logical_ids_are_unchanged(synthesized: Synthesized, env: str) -> None:
    expected = STATEFUL | (PROD_ONLY if env == "prod" else {})
    resources = synthesized.raw[env]["Resources"]
    actual = {
        logical_id: resources[logical_id]["Type"]
        for logical_id in expected
        if logical_id in resources
    }
    assert actual == expected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_other_stateful_resource_appeared(synthesized: Synthesized, env: str) -> None:
    """A second table, cluster, key or secret is a refactor gone wrong, or needs adding above."""
    expected = STATEFUL | (PROD_ONLY if env == "prod" else {})
    stateful_types = set(STATEFUL.values())
    found = {
        logical_id
        for logical_id, body in synthesized.raw[env]["Resources"].items()
        if body["Type"] in stateful_types
    }
    assert found == set(expected)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_stateful_resource_has_an_explicit_removal_policy(
    synthesized: Synthesized, env: str
) -> None:
    resources = synthesized.raw[env]["Resources"]
    data_holders = (
        "AppDataTable0F9DE268",
        "AuroraClusterCDFC8250",
        "AuroraClusterKeyA2C8F84D",
        "AuroraClusterSecret8E4F2BC8",
        "BackupsKeyC696F888",
        "BackupsVault1F11AFCC",
    )
    for logical_id in data_holders:
        body = resources[logical_id]
        assert body.get("DeletionPolicy") in {"Retain", "Snapshot"}, logical_id
        assert body.get("UpdateReplacePolicy") in {"Retain", "Snapshot"}, logical_id


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_committed_environments_have_no_document_db(synthesized: Synthesized, env: str) -> None:
    """DocumentDB is off unless an environment's configuration has a document_db section."""
    types = {body["Type"] for body in synthesized.raw[env]["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::DocDB::")}
