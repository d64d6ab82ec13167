"""Rules that no configuration key can trigger today, on the real prod template edited by hand.

The table's PITR is always on and no instance setting is configurable, so these
pairs are the committed template and a copy with one property changed.
"""

from __future__ import annotations

import copy
from typing import Any

from deployguard import Severity, check
from tests.guard.conftest import Variants
from tests.guard.test_matrix import TABLE, WRITER


def _findings(old: dict[str, Any], new: dict[str, Any]) -> set[tuple[str, str, str, Severity]]:
    report = check(old, new, region="eu-west-1")
    return {(f.logical_id, f.property, f.rule, f.severity) for f in report.findings}


def test_switching_pitr_off_blocks(variants: Variants) -> None:
    committed = variants.template("committed")
    new = copy.deepcopy(committed)
    replica = new["Resources"][TABLE]["Properties"]["Replicas"][0]
    replica["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": False}
    assert _findings(committed, new) == {
        (TABLE, "PointInTimeRecoverySpecification", "pitr-disabled", Severity.BLOCK)
    }


def test_a_conditionally_create_only_change_is_a_warning(variants: Variants) -> None:
    committed = variants.template("committed")
    new = copy.deepcopy(committed)
    new["Resources"][WRITER]["Properties"]["PreferredMaintenanceWindow"] = "sun:03:00-sun:04:00"
    assert _findings(committed, new) == {
        (WRITER, "PreferredMaintenanceWindow", "may-replace", Severity.WARN)
    }


def test_an_intrinsic_value_is_compared_as_written(variants: Variants) -> None:
    """A create-only property given by Fn::If is unchanged when its text is unchanged, and
    changed when a branch changes: the guard cannot evaluate conditions, so it compares text."""
    committed = copy.deepcopy(variants.template("committed"))
    table = committed["Resources"][TABLE]["Properties"]
    table["TableName"] = {"Fn::If": ["IsProd", "app-data", "app-data-dev"]}
    assert _findings(committed, copy.deepcopy(committed)) == set()
    new = copy.deepcopy(committed)
    new["Resources"][TABLE]["Properties"]["TableName"]["Fn::If"][1] = "app-data-v2"
    assert _findings(committed, new) == {(TABLE, "TableName", "replaced", Severity.BLOCK)}


def _table(**properties: Any) -> dict[str, Any]:
    return {"Resources": {"T": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
                                "Properties": properties}}}  # fmt: skip


def test_unusual_but_valid_values_do_not_crash() -> None:
    """Fn::If where a list is expected, and Properties given by an intrinsic."""
    key = {"Fn::If": ["C", [{"AttributeName": "PK", "KeyType": "HASH"}], []]}
    old = _table(KeySchema=key, AttributeDefinitions=key, GlobalSecondaryIndexes=key)
    assert _findings(old, copy.deepcopy(old)) == set()
    odd = {"Resources": {"T": {"Type": "AWS::RDS::DBCluster", "Properties": {"Fn::If": []}}}}
    assert _findings(odd, copy.deepcopy(odd)) == set()


def test_the_same_value_spelled_differently_is_no_change() -> None:
    """CloudFormation reads "true" as true and "A.Arn" as ["A", "Arn"]."""
    old = {"Resources": {"C": {"Type": "AWS::RDS::DBCluster", "DeletionPolicy": "Retain",
                               "Properties": {"StorageEncrypted": "true",
                                              "KmsKeyId": {"Fn::GetAtt": "K.Arn"}}}}}  # fmt: skip
    new = copy.deepcopy(old)
    new["Resources"]["C"]["Properties"] = {
        "StorageEncrypted": True,
        "KmsKeyId": {"Fn::GetAtt": ["K", "Arn"]},
    }
    assert _findings(old, new) == set()


def test_numbers_written_as_strings_are_compared_as_numbers() -> None:
    old = {"Resources": {"C": {"Type": "AWS::RDS::DBCluster", "DeletionPolicy": "Retain",
                               "Properties": {"BackupRetentionPeriod": "14"}}}}  # fmt: skip
    new = copy.deepcopy(old)
    new["Resources"]["C"]["Properties"]["BackupRetentionPeriod"] = "7"
    assert _findings(old, new) == {("C", "BackupRetentionPeriod", "backup-retention-shortened",
                                    Severity.WARN)}  # fmt: skip


def _replicas(*settings: tuple[str, bool]) -> dict[str, Any]:
    replicas = [
        {"Region": region, "DeletionProtectionEnabled": on,
         "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": on}}
        for region, on in settings
    ]  # fmt: skip
    return {"Resources": {"G": {"Type": "AWS::DynamoDB::GlobalTable", "DeletionPolicy": "Retain",
                                "Properties": {"Replicas": replicas}}}}  # fmt: skip


def test_replicas_are_compared_region_by_region() -> None:
    switched_off = _findings(
        _replicas(("eu-west-1", True), ("us-east-1", False)),
        _replicas(("eu-west-1", False), ("us-east-1", False)),
    )
    assert {(f[2], f[3]) for f in switched_off} == {
        ("deletion-protection-off", Severity.BLOCK),
        ("pitr-disabled", Severity.BLOCK),
    }
    # a new replica without protection switches nothing off
    assert (
        _findings(
            _replicas(("eu-west-1", True)), _replicas(("eu-west-1", True), ("us-east-1", False))
        )
        == set()
    )


def test_a_vpc_whose_subnets_are_all_replaced_moves_the_cluster(variants: Variants) -> None:
    """network.cidr changes: the VPC and both subnets are replaced under the same Refs."""
    committed = variants.template("committed")
    new = copy.deepcopy(committed)
    for body in new["Resources"].values():
        if body["Type"] in ("AWS::EC2::VPC", "AWS::EC2::Subnet"):
            body["Properties"]["CidrBlock"] = body["Properties"]["CidrBlock"].replace(
                "10.30.", "10.31."
            )
    found = _findings(committed, new)
    assert ("AuroraClusterCDFC8250", "DBSubnetGroupName", "vpc-changed", Severity.BLOCK) in found


def test_aurora_mysql_5_6_to_5_7_is_a_major_version() -> None:
    def cluster(version: str) -> dict[str, Any]:
        return {"Resources": {"C": {"Type": "AWS::RDS::DBCluster", "DeletionPolicy": "Retain",
                                    "Properties": {"EngineVersion": version}}}}  # fmt: skip

    assert {f[2] for f in _findings(cluster("5.6.10a"), cluster("5.7.mysql_aurora.2.11.2"))} == {
        "engine-major-version"
    }
    assert _findings(cluster("17.4"), cluster("17.9")) == set()


def test_a_condition_put_on_a_stateful_resource_blocks() -> None:
    """CloudFormation deletes a resource whose condition is false; the guard cannot tell."""
    old = _table(TableName="t")
    new = copy.deepcopy(old)
    new["Resources"]["T"]["Condition"] = "IsProd"
    assert {f[2] for f in _findings(old, new)} == {"condition-changed"}


def test_local_secondary_indexes_and_master_username_replace() -> None:
    """The schemas list them as conditional (or not at all, for Table's LSIs); AWS documents
    both as replacement."""
    lsi = [{"IndexName": "ByDate", "KeySchema": [], "Projection": {"ProjectionType": "ALL"}}]
    assert {f[2] for f in _findings(_table(), _table(LocalSecondaryIndexes=lsi))} == {"replaced"}

    def cluster(user: str) -> dict[str, Any]:
        return {"Resources": {"C": {"Type": "AWS::RDS::DBCluster", "DeletionPolicy": "Retain",
                                    "Properties": {"MasterUsername": user}}}}  # fmt: skip

    assert {f[2] for f in _findings(cluster("postgres"), cluster("admin"))} == {"replaced"}


def _document_db(**properties: Any) -> dict[str, Any]:
    """A DocumentDB cluster as the DocumentDbCluster construct writes it (no removal policy
    here: the type alone makes it stateful)."""
    return {"Resources": {"D": {"Type": "AWS::DocDB::DBCluster", "Properties": properties}}}


def test_document_db_removed_or_unprotected_blocks() -> None:
    old = _document_db(DeletionProtection=True, BackupRetentionPeriod=7, EngineVersion="5.0.0")
    assert {f[2] for f in _findings(old, {"Resources": {}})} == {"removed"}
    weaker = _document_db(DeletionProtection=False, BackupRetentionPeriod=3, EngineVersion="5.0.0")
    assert _findings(old, weaker) == {
        ("D", "DeletionProtection", "deletion-protection-off", Severity.BLOCK),
        ("D", "BackupRetentionPeriod", "backup-retention-shortened", Severity.WARN),
    }


def test_document_db_major_version_and_create_only_changes_block() -> None:
    old = _document_db(EngineVersion="4.0.0", MasterUsername="docdbadmin")
    assert {f[2] for f in _findings(old, _document_db(EngineVersion="5.0.0",
                                                      MasterUsername="docdbadmin"))} == {
        "engine-major-version"
    }  # fmt: skip
    assert {f[2] for f in _findings(old, _document_db(EngineVersion="4.0.0",
                                                      MasterUsername="other"))} == {"replaced"}  # fmt: skip
