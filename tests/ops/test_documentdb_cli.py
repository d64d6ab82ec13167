"""``backup start --target documentdb`` and ``restore documentdb``, for a stack with DocumentDB.

Stubbed with botocore's Stubber, because moto 5.2.5 has no DocumentDB: its RDS
backend serves the ``docdb`` API but refuses ``Engine='docdb'`` (its enum is
aurora-mysql, aurora-postgresql, mysql, neptune, postgres), so no DocumentDB
cluster or snapshot can exist in it. Stubbed: the ``docdb`` calls
(CreateDBClusterSnapshot, DescribeDBClusterSnapshots, DescribeDBClusters,
RestoreDBClusterFromSnapshot, RestoreDBClusterToPointInTime) and, as in
test_aws_backup_stubbed.py, the AWS Backup jobs moto lacks. The Stubber checks
every request against botocore's service model and the exact parameters given.
Real, on moto's server over HTTP: discovery (the nested ``document-db/*`` SSM
parameters), the table, the Aurora cluster and its snapshots. The errors of a
stack without DocumentDB run as subprocesses, against moto only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from ops.aws import Aws
from tests.fixtures.moto_server import REGION, MotoServer
from tests.ops._helpers import (
    ENV,
    ROLE_ARN,
    VAULT,
    deploy,
    json_out,
    one_error_line,
    ops,
    publish_ssm,
)
from tests.ops.conftest import RunOps

DOCS = "appdata-dev-documents"
DOCS_ARN = f"arn:aws:rds:{REGION}:123456789012:cluster:{DOCS}"
SNAPSHOT_NAME = re.compile(r"appdata-dev-documentdb-\d{8}-\d{6}")
JOB = "F5F5F5F5-1111-2222-3333-444444444444"
RECOVERY_POINT = f"arn:aws:rds:{REGION}:123456789012:cluster-snapshot:awsbackup:job-f5f5"
LIVE = {
    "DBClusterIdentifier": DOCS,
    "DBClusterArn": DOCS_ARN,
    "Engine": "docdb",
    "EngineVersion": "5.0.0",
    "Status": "available",
    "DBSubnetGroup": "appdata-dev-documents-subnets",
    "DBClusterParameterGroup": "appdata-dev-documents-tls",
    "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0aaaabbbbccccdddd", "Status": "active"}],
    "EnabledCloudwatchLogsExports": ["audit", "profiler"],
}
PLACEMENT = {
    "DBSubnetGroupName": "appdata-dev-documents-subnets",
    "VpcSecurityGroupIds": ["sg-0aaaabbbbccccdddd"],
    "EnableCloudwatchLogsExports": ["audit", "profiler"],
}


@dataclass
class Stubbed:
    docdb: Stubber
    backup: Stubber
    aws: Aws

    def connect(self, args: Any) -> Aws:
        del args
        return self.aws


@pytest.fixture
def stubbed(moto: MotoServer) -> Iterator[Stubbed]:
    deploy(moto, backups=True)
    publish_ssm(moto, {"document-db/cluster-id": DOCS, "document-db/cluster-arn": DOCS_ARN})
    clients = {"docdb": moto.fresh_client("docdb"), "backup": moto.fresh_client("backup")}
    aws = Aws(REGION, lambda service: clients.get(service) or moto.client(service))
    docdb, backup = Stubber(clients["docdb"]), Stubber(clients["backup"])
    with docdb, backup:
        yield Stubbed(docdb, backup, aws)
        docdb.assert_no_pending_responses()
        backup.assert_no_pending_responses()


def _snapshot(name: str, status: str, version: str = "5.0.0") -> dict[str, Any]:
    return {
        "EngineVersion": version,
        "DBClusterSnapshotIdentifier": name,
        "DBClusterIdentifier": DOCS,
        "DBClusterSnapshotArn": f"arn:aws:rds:{REGION}:123456789012:cluster-snapshot:{name}",
        "Status": status,
        "Engine": "docdb",
        "SnapshotCreateTime": datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
        "ClusterCreateTime": datetime(2026, 11, 1, tzinfo=UTC),
    }


def test_native_snapshot_of_documentdb_and_wait(stubbed: Stubbed, run_ops: RunOps) -> None:
    stubbed.docdb.add_response(
        "create_db_cluster_snapshot",
        {"DBClusterSnapshot": _snapshot("pending-name", "creating")},
        {
            "DBClusterIdentifier": DOCS,
            "DBClusterSnapshotIdentifier": ANY,
            "Tags": [{"Key": "created-by", "Value": "ops-cli"}],
        },
    )
    for status in ("creating", "available"):
        stubbed.docdb.add_response(
            "describe_db_cluster_snapshots",
            {"DBClusterSnapshots": [_snapshot("pending-name", status)]},
            {"DBClusterSnapshotIdentifier": ANY},
        )
    result = run_ops(
        "backup", "start", "--env", ENV, "--target", "documentdb", "--native",
        "--wait", "--poll-seconds", "0", "--json", connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (job,) = json_out(result)["jobs"]
    assert (job["kind"], job["state"], job["resource"]) == (
        "documentdb snapshot",
        "COMPLETED",
        DOCS,
    )
    assert SNAPSHOT_NAME.fullmatch(job["id"]), job["id"]
    assert "backup: documentdb snapshot" in result.stderr and ": available" in result.stderr


def test_all_native_backs_up_the_table_and_both_clusters(
    stubbed: Stubbed, moto: MotoServer, run_ops: RunOps
) -> None:
    """Aurora and DocumentDB share RDS's namespace of snapshot ids: the names must differ."""
    stubbed.docdb.add_response(
        "create_db_cluster_snapshot",
        {"DBClusterSnapshot": _snapshot("x", "creating")},
        {"DBClusterIdentifier": DOCS, "DBClusterSnapshotIdentifier": ANY, "Tags": ANY},
    )
    result = run_ops(
        "backup", "start", "--env", ENV, "--target", "all", "--native", "--json",
        connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    jobs = json_out(result)["jobs"]
    assert [j["kind"] for j in jobs] == [
        "dynamodb backup",
        "cluster snapshot",
        "documentdb snapshot",
    ]
    assert jobs[1]["id"] != jobs[2]["id"] and SNAPSHOT_NAME.fullmatch(jobs[2]["id"])
    manual = moto.client("rds").describe_db_cluster_snapshots(SnapshotType="manual")
    assert [s["DBClusterSnapshotIdentifier"] for s in manual["DBClusterSnapshots"]] == [
        jobs[1]["id"]
    ]


def test_aws_backup_job_for_documentdb(stubbed: Stubbed, run_ops: RunOps) -> None:
    stubbed.backup.add_response(
        "start_backup_job",
        {"BackupJobId": JOB, "CreationDate": datetime.now(UTC)},
        {
            "BackupVaultName": VAULT,
            "ResourceArn": DOCS_ARN,
            "IamRoleArn": ROLE_ARN,
            "IdempotencyToken": ANY,
            "Lifecycle": {"DeleteAfterDays": 14},
        },
    )
    stubbed.backup.add_response(
        "describe_backup_job",
        {"BackupJobId": JOB, "State": "COMPLETED", "ResourceArn": DOCS_ARN,
         "RecoveryPointArn": RECOVERY_POINT},
        {"BackupJobId": JOB},
    )  # fmt: skip
    result = run_ops(
        "backup", "start", "--env", ENV, "--target", "documentdb", "--retention-days", "14",
        "--wait", "--poll-seconds", "0", "--json", connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (job,) = json_out(result)["jobs"]
    assert (job["id"], job["state"], job["result"]) == (JOB, "COMPLETED", RECOVERY_POINT)


def _live(stubbed: Stubbed) -> None:
    stubbed.docdb.add_response(
        "describe_db_clusters", {"DBClusters": [LIVE]}, {"DBClusterIdentifier": DOCS}
    )


def _restored(target: str) -> dict[str, Any]:
    return {"DBCluster": {**LIVE, "DBClusterIdentifier": target, "Status": "creating"}}


SNAPSHOT = "appdata-dev-documentdb-20261201-030000"


def _described(stubbed: Stubbed, version: str) -> None:
    stubbed.docdb.add_response(
        "describe_db_cluster_snapshots",
        {"DBClusterSnapshots": [_snapshot(SNAPSHOT, "available", version)]},
        {"DBClusterSnapshotIdentifier": SNAPSHOT},
    )


def test_restore_documentdb_from_a_snapshot_into_its_network_and_parameter_group(
    stubbed: Stubbed, run_ops: RunOps
) -> None:
    _live(stubbed)
    _described(stubbed, "5.0.0")
    stubbed.docdb.add_response(
        "restore_db_cluster_from_snapshot",
        _restored("appdata-dev-documents-copy"),
        {
            "DBClusterIdentifier": "appdata-dev-documents-copy",
            "SnapshotIdentifier": SNAPSHOT,
            "Engine": "docdb",
            "DBClusterParameterGroupName": "appdata-dev-documents-tls",
            **PLACEMENT,
        },
    )
    result = run_ops(
        "restore", "documentdb", "--env", ENV, "--recovery-point", SNAPSHOT,
        "--to-cluster", "appdata-dev-documents-copy", "--json", connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json_out(result)
    assert (document["target"], document["job"]["kind"]) == (
        "appdata-dev-documents-copy",
        "cluster restore",
    )
    (note,) = document["notes"]
    assert (
        "aws docdb create-db-instance --db-cluster-identifier appdata-dev-documents-copy "
        "--db-instance-identifier appdata-dev-documents-copy-1 --db-instance-class db.r6g.large"
    ) in note  # dev configures no document_db: its default class


def test_a_snapshot_from_another_major_version_gets_the_default_parameter_group(
    stubbed: Stubbed, run_ops: RunOps
) -> None:
    """The live 5.0 cluster's group does not fit a 4.0 snapshot: the API would refuse it."""
    _live(stubbed)
    _described(stubbed, "4.0.0")
    stubbed.docdb.add_response(
        "restore_db_cluster_from_snapshot",
        _restored("appdata-dev-documents-old"),
        {
            "DBClusterIdentifier": "appdata-dev-documents-old",
            "SnapshotIdentifier": SNAPSHOT,
            "Engine": "docdb",
            **PLACEMENT,
        },
    )
    result = run_ops(
        "restore", "documentdb", "--env", ENV, "--recovery-point", SNAPSHOT,
        "--to-cluster", "appdata-dev-documents-old", connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "note: the snapshot is of engine version 4.0.0, the live cluster runs 5.0.0" in (
        result.stderr
    )


def test_restore_documentdb_to_the_latest_point_in_time(stubbed: Stubbed, run_ops: RunOps) -> None:
    """DocumentDB's RestoreDBClusterToPointInTime takes neither Engine nor a parameter group."""
    _live(stubbed)
    stubbed.docdb.add_response(
        "restore_db_cluster_to_point_in_time",
        _restored("appdata-dev-documents-pitr"),
        {
            "DBClusterIdentifier": "appdata-dev-documents-pitr",
            "SourceDBClusterIdentifier": DOCS,
            "UseLatestRestorableTime": True,
            **PLACEMENT,
        },
    )
    stubbed.docdb.add_response(
        "describe_db_clusters",
        {"DBClusters": [{**LIVE, "DBClusterIdentifier": "appdata-dev-documents-pitr"}]},
        {"DBClusterIdentifier": "appdata-dev-documents-pitr"},
    )
    result = run_ops(
        "restore", "documentdb", "--env", ENV, "--point-in-time", "latest",
        "--to-cluster", "appdata-dev-documents-pitr", "--wait", "--poll-seconds", "0",
        connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cluster restore appdata-dev-documents-pitr: available")
    assert (
        "note: the restored cluster has the engine's default parameter group: set the live one's"
        " (audit log, profiler) with `aws docdb modify-db-cluster --db-cluster-identifier "
        "appdata-dev-documents-pitr --db-cluster-parameter-group-name appdata-dev-documents-tls"
        " --apply-immediately`, then reboot its instances"
    ) in result.stderr


def test_restore_documentdb_through_aws_backup(stubbed: Stubbed, run_ops: RunOps) -> None:
    _live(stubbed)
    stubbed.backup.add_response(
        "get_recovery_point_restore_metadata",
        {"RestoreMetadata": {"Engine": "docdb", "DBClusterIdentifier": DOCS}},
        {"BackupVaultName": VAULT, "RecoveryPointArn": RECOVERY_POINT},
    )
    stubbed.backup.add_response(
        "start_restore_job",
        {"RestoreJobId": JOB},
        {
            "RecoveryPointArn": RECOVERY_POINT,
            "Metadata": {
                "Engine": "docdb",
                "DBClusterIdentifier": "appdata-dev-documents-copy",
                "DBSubnetGroupName": "appdata-dev-documents-subnets",
                "VpcSecurityGroupIds": '["sg-0aaaabbbbccccdddd"]',
            },
            "IamRoleArn": ROLE_ARN,
            "ResourceType": "DocumentDB",
            "IdempotencyToken": ANY,
        },
    )
    result = run_ops(
        "restore", "documentdb", "--env", ENV, "--recovery-point", RECOVERY_POINT,
        "--to-cluster", "appdata-dev-documents-copy", "--json", connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json_out(result)["job"]["id"] == JOB


def test_restore_onto_the_live_documentdb_cluster_is_refused(
    stubbed: Stubbed, run_ops: RunOps
) -> None:
    result = run_ops(
        "restore", "documentdb", "--env", ENV, "--point-in-time", "latest",
        "--to-cluster", DOCS.upper(), connect=stubbed.connect,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"refusing to restore onto the live cluster {DOCS!r}" in one_error_line(result)


def test_list_shows_documentdb_snapshots_and_age(stubbed: Stubbed, run_ops: RunOps) -> None:
    for _ in ("table", "aurora", "documentdb"):  # one ListRecoveryPoints... each, none found
        stubbed.backup.add_response(
            "list_recovery_points_by_backup_vault",
            {"RecoveryPoints": []},
            {"BackupVaultName": VAULT, "ByResourceArn": ANY},
        )
    for state in ("CREATED", "PENDING", "RUNNING"):
        stubbed.backup.add_response(
            "list_backup_jobs", {"BackupJobs": []}, {"ByBackupVaultName": VAULT, "ByState": state}
        )
    name = SNAPSHOT
    stubbed.docdb.add_response(
        "describe_db_cluster_snapshots",
        {"DBClusterSnapshots": [_snapshot(name, "available")]},
        {"DBClusterIdentifier": DOCS, "SnapshotType": "manual"},
    )
    result = run_ops("backup", "list", "--env", ENV, "--json", connect=stubbed.connect)
    assert result.returncode == 0, result.stderr
    document = json_out(result)
    assert document["document_db_cluster"] == DOCS
    assert [(b["resource"], b["arn"]) for b in document["backups"]] == [("documentdb", name)]
    assert set(document["newest_good_age_hours"]) == {"dynamodb", "aurora", "documentdb"}
    assert document["newest_good_age_hours"]["documentdb"] is not None


def test_a_stack_without_documentdb_says_so_in_one_line(moto: MotoServer) -> None:
    """As operators run it, a subprocess against moto: nothing stubbed, nothing started."""
    deploy(moto, backups=True)
    for args in (
        ("backup", "start", "--env", ENV, "--target", "documentdb", "--native"),
        ("backup", "start", "--env", ENV, "--target", "documentdb"),
        ("restore", "documentdb", "--env", ENV, "--point-in-time", "latest",
         "--to-cluster", "appdata-dev-documents-copy"),
    ):  # fmt: skip
        result = ops(moto, *args)
        assert result.returncode == 6, result.stderr
        assert one_error_line(result) == (
            "error: DatabaseStack-dev in eu-west-1 has no DocumentDB cluster (no "
            "document-db/cluster-id, document-db/cluster-arn): add a document_db section to the "
            "environment in cdk.json and deploy"
        )
    manual = moto.client("rds").describe_db_cluster_snapshots(SnapshotType="manual")
    assert manual["DBClusterSnapshots"] == []
    assert len(moto.client("rds").describe_db_clusters()["DBClusters"]) == 1


def test_restore_help_lists_documentdb(moto: MotoServer) -> None:
    result = ops(moto, "restore", "documentdb", "--help")
    assert result.returncode == 0
    for word in ("--recovery-point", "cluster snapshot id", "--point-in-time", "--to-cluster"):
        assert word in result.stdout
