"""``python -m ops backup|restore`` as a subprocess against moto's server (real HTTP, real boto3).

Native backups and restores (DynamoDB CreateBackup / ListBackups /
RestoreTableFromBackup / RestoreTableToPointInTime, RDS CreateDBClusterSnapshot /
DescribeDBClusterSnapshots / RestoreDBClusterFromSnapshot /
RestoreDBClusterToPointInTime) and discovery (SSM, CloudFormation) all run on
moto; nothing is stubbed here. The main paths run ``python -m ops`` as a subprocess;
follow-up checks use ``run_ops`` (the same CLI in-process, same moto server).
"""

from __future__ import annotations

import re

from tests.fixtures.moto_server import MotoServer
from tests.ops._helpers import (
    CLUSTER,
    ENV,
    TABLE,
    deploy,
    json_out,
    one_error_line,
    ops,
)
from tests.ops.conftest import RunOps

NAME = re.compile(r"appdata-dev-\d{8}-\d{6}")


def test_native_backup_of_both_creates_a_table_backup_and_a_cluster_snapshot(
    moto: MotoServer,
) -> None:
    deploy(moto)
    result = ops(moto, "backup", "start", "--env", ENV, "--target", "all", "--native", "--json")
    assert result.returncode == 0, result.stderr
    document = json_out(result)
    assert (document["ok"], document["command"], document["exit_code"]) == (True, "backup start", 0)
    assert (document["env"], document["region"]) == (ENV, "eu-west-1")
    kinds = [job["kind"] for job in document["jobs"]]
    assert kinds == ["dynamodb backup", "cluster snapshot"]
    assert set(document["jobs"][0]) == {
        "kind",
        "id",
        "state",
        "service_state",
        "resource",
        "percent_done",
        "message",
        "result",
    }

    backups = moto.client("dynamodb").list_backups(TableName=TABLE)["BackupSummaries"]
    assert len(backups) == 1 and NAME.fullmatch(backups[0]["BackupName"])
    assert document["jobs"][0]["id"] == backups[0]["BackupArn"]
    snapshots = moto.client("rds").describe_db_cluster_snapshots(
        DBClusterIdentifier=CLUSTER, SnapshotType="manual"
    )["DBClusterSnapshots"]
    assert [s["DBClusterSnapshotIdentifier"] for s in snapshots] == [document["jobs"][1]["id"]]
    assert NAME.fullmatch(document["jobs"][1]["id"])
    assert result.stderr.count("backup: started ") == 2


def test_native_backup_wait_reports_progress_and_completion(moto: MotoServer) -> None:
    deploy(moto)
    result = ops(
        moto, "backup", "start", "--env", ENV, "--target", "aurora", "--native",
        "--wait", "--poll-seconds", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        r"cluster snapshot appdata-dev-\d{8}-\d{6}: available -> arn:\S+\n", result.stdout
    )
    assert "backup: cluster snapshot appdata-dev-" in result.stderr


def test_list_shows_native_backups_and_age_and_status_finds_them(
    moto: MotoServer, run_ops: RunOps
) -> None:
    deploy(moto)
    started = json_out(
        ops(moto, "backup", "start", "--env", ENV, "--target", "all", "--native", "--json")
    )
    backup_arn, snapshot = (job["id"] for job in started["jobs"])

    text = ops(moto, "backup", "list", "--env", ENV)
    assert text.returncode == 0, text.stderr
    assert f"table {TABLE}:" in text.stdout and backup_arn in text.stdout
    assert f"cluster {CLUSTER}:" in text.stdout and snapshot in text.stdout
    assert "DynamoDB table: newest good backup is 0 hours old" in text.stdout
    assert "Aurora cluster: newest good backup is 0 hours old" in text.stdout
    assert "running: none" in text.stdout
    assert "note: DatabaseStack-dev publishes no backup vault" in text.stderr

    document = json_out(run_ops("backup", "list", "--env", ENV, "--json"))
    assert document["source"] == "SSM /appdata/dev/" and document["vault"] is None
    assert [(b["resource"], b["source"], b["good"]) for b in document["backups"]] == [
        ("aurora", "native", True),
        ("dynamodb", "native", True),
    ] or [(b["resource"], b["source"], b["good"]) for b in document["backups"]] == [
        ("dynamodb", "native", True),
        ("aurora", "native", True),
    ]
    assert document["newest_good_age_hours"] == {"dynamodb": 0.0, "aurora": 0.0}

    for job_id, kind in ((backup_arn, "dynamodb backup"), (snapshot, "cluster snapshot")):
        status = run_ops("backup", "status", job_id, "--json")
        assert status.returncode == 0, status.stderr
        job = json_out(status)["job"]
        assert (job["kind"], job["id"], job["state"]) == (kind, job_id, "COMPLETED")


def test_list_with_nothing_backed_up_says_so(moto: MotoServer, run_ops: RunOps) -> None:
    deploy(moto)
    moto.client("dynamodb").update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    result = run_ops("backup", "list", "--env", ENV)
    assert result.returncode == 0, result.stderr
    assert "DynamoDB table: no good backup found" in result.stdout
    assert "Aurora cluster: no good backup found" in result.stdout
    assert "DynamoDB PITR: latest restorable time 20" in result.stdout


def test_native_restore_creates_a_new_table_and_refuses_the_live_one(
    moto: MotoServer, run_ops: RunOps
) -> None:
    deploy(moto)
    started = json_out(
        run_ops("backup", "start", "--env", ENV, "--target", "dynamodb", "--native", "--json")
    )
    backup_arn = started["jobs"][0]["id"]
    dynamodb = moto.client("dynamodb")

    refused = ops(
        moto,
        "restore",
        "dynamodb",
        "--env",
        ENV,
        "--recovery-point",
        backup_arn,
        "--to-table",
        TABLE,
    )
    assert refused.returncode == 2
    assert one_error_line(refused) == (
        f"error: refusing to restore onto the live table '{TABLE}': choose a new name "
        "(restores always create a new resource)"
    )
    assert dynamodb.list_tables()["TableNames"] == [TABLE]

    restored = ops(
        moto, "restore", "dynamodb", "--env", ENV, "--recovery-point", backup_arn,
        "--to-table", "app-data-dev-restored", "--wait", "--poll-seconds", "0", "--json",
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    document = json_out(restored)
    assert document["target"] == "app-data-dev-restored"
    assert document["job"]["state"] == "COMPLETED"
    assert "note: a restored table does not inherit PITR" in restored.stderr
    assert sorted(dynamodb.list_tables()["TableNames"]) == [TABLE, "app-data-dev-restored"]
    table = dynamodb.describe_table(TableName="app-data-dev-restored")["Table"]
    assert table["RestoreSummary"]["SourceBackupArn"] == backup_arn

    again = run_ops(
        "restore", "dynamodb", "--env", ENV, "--recovery-point", backup_arn,
        "--to-table", "app-data-dev-restored",
    )  # fmt: skip
    assert again.returncode == 2
    assert one_error_line(again).startswith(
        "error: RestoreTableFromBackup refused, choose a new name: Table already exists"
    )


def test_dynamodb_point_in_time_restore_creates_a_new_table(
    moto: MotoServer, run_ops: RunOps
) -> None:
    deploy(moto)
    dynamodb = moto.client("dynamodb")
    dynamodb.update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    result = run_ops(
        "restore", "dynamodb", "--env", ENV, "--point-in-time", "latest",
        "--to-table", "app-data-dev-pitr",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "table restore app-data-dev-pitr: CREATING\n"
    assert "app-data-dev-pitr" in dynamodb.list_tables()["TableNames"]


def test_aurora_restores_from_snapshot_and_point_in_time_into_new_clusters(
    moto: MotoServer, run_ops: RunOps
) -> None:
    deploy(moto)
    snapshot = json_out(
        run_ops("backup", "start", "--env", ENV, "--target", "aurora", "--native", "--json")
    )["jobs"][0]["id"]
    rds = moto.client("rds")

    from_snapshot = ops(
        moto, "restore", "aurora", "--env", ENV, "--recovery-point", snapshot,
        "--to-cluster", "appdata-dev-restored", "--json",
    )  # fmt: skip
    assert from_snapshot.returncode == 0, from_snapshot.stderr
    assert json_out(from_snapshot)["job"]["id"] == "appdata-dev-restored"
    assert "note: a restore creates the cluster only: add an instance" in from_snapshot.stderr

    point_in_time = run_ops(
        "restore", "aurora", "--env", ENV, "--point-in-time", "latest",
        "--to-cluster", "appdata-dev-pitr",
    )  # fmt: skip
    assert point_in_time.returncode == 0, point_in_time.stderr
    clusters = {c["DBClusterIdentifier"]: c for c in rds.describe_db_clusters()["DBClusters"]}
    assert set(clusters) == {CLUSTER, "appdata-dev-restored", "appdata-dev-pitr"}
    assert clusters["appdata-dev-restored"]["Engine"] == "aurora-postgresql"

    live = run_ops(
        "restore", "aurora", "--env", ENV, "--recovery-point", snapshot,
        "--to-cluster", CLUSTER.upper(),
    )  # fmt: skip
    assert live.returncode == 2
    assert "refusing to restore onto the live cluster" in one_error_line(live)
    bad = run_ops(
        "restore", "aurora", "--env", ENV, "--point-in-time", "latest", "--to-cluster", "x--y"
    )
    assert bad.returncode == 2 and "invalid cluster id 'x--y'" in one_error_line(bad)
    assert len(rds.describe_db_clusters()["DBClusters"]) == 3


def test_backup_help_documents_every_command(moto: MotoServer) -> None:
    backup = ops(moto, "backup", "--help")
    assert backup.returncode == 0
    for word in (
        "start",
        "list",
        "status",
        "python -m ops restore",
        "--region",
        "--profile",
        "--json",
    ):
        assert word in backup.stdout
    assert "4    backup/restore job failed, aborted, expired" in backup.stdout
    assert "5    AWS credentials missing or expired, or access denied" in backup.stdout
    assert "6    not found: stack not deployed in that region" in backup.stdout


def test_aurora_restores_keep_the_clusters_tls_parameter_group(
    moto: MotoServer, run_ops: RunOps
) -> None:
    """The stack's parameter group forces TLS (rds.force_ssl); a restore into the default
    group would quietly accept plaintext connections to a copy of production data."""
    rds = moto.client("rds")
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="appdata-dev-tls",
        DBParameterGroupFamily="aurora-postgresql17",
        Description="TLS only",
    )
    deploy(moto)
    rds.modify_db_cluster(
        DBClusterIdentifier=CLUSTER, DBClusterParameterGroupName="appdata-dev-tls"
    )
    snapshot = json_out(
        run_ops("backup", "start", "--env", ENV, "--target", "aurora", "--native", "--json")
    )["jobs"][0]["id"]
    for source in (("--recovery-point", snapshot), ("--point-in-time", "latest")):
        target = f"appdata-dev-{source[0].strip('-')}"
        result = run_ops("restore", "aurora", "--env", ENV, *source, "--to-cluster", target)
        assert result.returncode == 0, result.stderr
        (restored,) = rds.describe_db_clusters(DBClusterIdentifier=target)["DBClusters"]
        assert restored["DBClusterParameterGroup"] == "appdata-dev-tls", source
