"""The pure decisions behind backup/restore (ops.backups), error wording (ops.aws), discovery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    TokenRetrievalError,
)

from ops import exit_codes
from ops.aws import access_denied_message, explain
from ops.backups import (
    BackupItem,
    JobStatus,
    check_cluster_identifier,
    check_table_name,
    classify_job_id,
    cluster_restore_metadata,
    dynamodb_restore_metadata,
    native_backup_name,
    native_cluster_params,
    newest_good_age_hours,
    normalize_state,
    parse_point_in_time,
    refuse_live,
    restore_path,
)
from ops.discovery import from_values
from ops.errors import OpsError
from ops.jobs import wait_all
from ops.project import project_defaults

NOW = datetime(2026, 11, 14, 10, 15, 30, tzinfo=UTC)
LIVE_CLUSTER = {
    "Engine": "aurora-postgresql",
    "DBSubnetGroup": "appdata-prod-subnets",
    "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}],
    "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 16.0},
}


def test_native_backup_name_is_valid_for_dynamodb_and_rds() -> None:
    name = native_backup_name("prod", NOW)
    assert name == "appdata-prod-20261114-101530"
    assert check_table_name(name) == name
    assert check_cluster_identifier(name, limit=255) == name
    local = NOW.astimezone(timezone(timedelta(hours=2)))
    assert native_backup_name("prod", local) == name  # always UTC


@pytest.mark.parametrize("name", ["1abc", "a--b", "ab-", "a_b", "", "a" * 64, "appdata dev"])
def test_invalid_cluster_identifiers(name: str) -> None:
    with pytest.raises(OpsError) as caught:
        check_cluster_identifier(name)
    assert caught.value.code == exit_codes.USAGE


def test_invalid_table_name() -> None:
    with pytest.raises(OpsError, match="invalid table name 'ab'"):
        check_table_name("ab")


def test_refuse_live() -> None:
    refuse_live("app-data-copy", "app-data", what="table", case_sensitive=True)
    refuse_live("App-Data", "app-data", what="table", case_sensitive=True)  # tables: case matters
    with pytest.raises(OpsError, match="live cluster 'appdata-prod'") as caught:
        refuse_live("AppData-Prod", "appdata-prod", what="cluster", case_sensitive=False)
    assert caught.value.code == exit_codes.USAGE


@pytest.mark.parametrize(
    ("arn", "resource", "path"),
    [
        ("arn:aws:backup:eu-west-1:123456789012:recovery-point:1EB3B5E7-9EB0", "dynamodb", "aws-backup"),
        ("arn:aws:backup:eu-west-1:123456789012:recovery-point:continuous:cluster-x", "aurora", "aws-backup"),
        ("arn:aws:dynamodb:eu-west-1:123456789012:table/app-data/backup/01700000000000-abcd", "dynamodb", "native"),
        ("arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:awsbackup:job-1234", "aurora", "aws-backup"),
        ("arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:appdata-prod-20261114-101530", "aurora", "native"),
        ("appdata-prod-20261114-101530", "aurora", "native"),
        ("arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:awsbackup:job-5678", "documentdb", "aws-backup"),
        ("appdata-prod-documents-20261114-101530", "documentdb", "native"),
        ("arn:aws-cn:dynamodb:cn-north-1:123456789012:table/t/backup/0170-ab", "dynamodb", "native"),
    ],
)  # fmt: skip
def test_restore_path(arn: str, resource: str, path: str) -> None:
    assert restore_path(arn, resource) == path  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arn", "resource", "message"),
    [
        (
            "arn:aws:rds:eu-west-1:1:cluster-snapshot:s",
            "dynamodb",
            "is not a recovery point of the DynamoDB table",
        ),
        (
            "arn:aws:dynamodb:eu-west-1:1:table/t/backup/b",
            "aurora",
            "is not a recovery point of the Aurora cluster",
        ),
        (
            "arn:aws:dynamodb:eu-west-1:1:table/t/backup/b",
            "documentdb",
            "is not a recovery point of the DocumentDB cluster",
        ),
        ("snapshot-name", "dynamodb", "not a recovery point ARN"),
        ("arn:aws:dynamodb:eu-west-1:1:table/t", "dynamodb", "is not a recovery point of the"),
    ],
)
def test_restore_path_refuses_other_things(arn: str, resource: str, message: str) -> None:
    with pytest.raises(OpsError, match=message) as caught:
        restore_path(arn, resource)  # type: ignore[arg-type]
    assert caught.value.code == exit_codes.USAGE


def test_dynamodb_restore_metadata_only_renames() -> None:
    base = {
        "originalTableName": "app-data",
        "targetTableName": "app-data",
        "encryptionType": "Default",
    }
    assert dynamodb_restore_metadata(base, "app-data-copy") == {
        "originalTableName": "app-data",
        "targetTableName": "app-data-copy",
        "encryptionType": "Default",
    }
    assert base["targetTableName"] == "app-data"  # the input is not modified


def test_cluster_restore_metadata_keeps_the_recovery_points_own_and_fills_placement() -> None:
    metadata = cluster_restore_metadata(
        {"DBClusterIdentifier": "appdata-prod", "DBSubnetGroupName": "from-backup"},
        "appdata-prod-copy",
        LIVE_CLUSTER,
    )
    assert metadata == {
        "DBClusterIdentifier": "appdata-prod-copy",
        "DBSubnetGroupName": "from-backup",
        "Engine": "aurora-postgresql",
        "VpcSecurityGroupIds": '["sg-0123456789abcdef0"]',
    }


def test_native_cluster_params_copy_network_and_scaling() -> None:
    assert native_cluster_params(LIVE_CLUSTER) == {
        "Engine": "aurora-postgresql",
        "DBSubnetGroupName": "appdata-prod-subnets",
        "VpcSecurityGroupIds": ["sg-0123456789abcdef0"],
        "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 16.0},
    }
    assert native_cluster_params({"Engine": "aurora-postgresql"}) == {"Engine": "aurora-postgresql"}


def test_parse_point_in_time() -> None:
    assert parse_point_in_time("latest", NOW) is None
    assert parse_point_in_time("2026-11-14T03:00:00Z", NOW) == datetime(2026, 11, 14, 3, tzinfo=UTC)
    assert parse_point_in_time("2026-11-14T05:00:00+02:00", NOW) == datetime(
        2026, 11, 14, 3, tzinfo=UTC
    )
    for text, message in (
        ("2026-11-14T03:00:00", "has no time zone"),
        ("yesterday", "invalid --point-in-time"),
        ("2026-11-15T00:00:00Z", "is in the future"),
    ):
        with pytest.raises(OpsError, match=message):
            parse_point_in_time(text, NOW)


@pytest.mark.parametrize(
    ("job_id", "kind"),
    [
        ("D3D3D3D3-1111-2222-3333-444444444444", "aws-backup"),
        ("abcdef01-1111-2222-3333-444444444444", "aws-backup"),
        ("arn:aws:dynamodb:eu-west-1:1:table/t/backup/0170-ab", "dynamodb-backup"),
        ("arn:aws:rds:eu-west-1:1:cluster-snapshot:appdata-prod-1", "rds-snapshot"),
        ("appdata-prod-20261114-101530", "rds-snapshot"),
        ("42", "aws-backup"),
    ],
)
def test_classify_job_id(job_id: str, kind: str) -> None:
    assert classify_job_id(job_id) == kind


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("CREATED", "RUNNING"), ("PENDING", "RUNNING"), ("RUNNING", "RUNNING"),
        ("creating", "RUNNING"), ("backing-up", "RUNNING"), ("CREATING", "RUNNING"),
        ("COMPLETED", "COMPLETED"), ("AVAILABLE", "COMPLETED"), ("available", "COMPLETED"),
        ("ACTIVE", "COMPLETED"),
        ("FAILED", "FAILED"), ("ABORTED", "FAILED"), ("EXPIRED", "FAILED"), ("PARTIAL", "FAILED"),
        ("failed", "FAILED"), ("inaccessible-encryption-credentials", "FAILED"), ("DELETED", "FAILED"),
    ],
)  # fmt: skip
def test_normalize_state(raw: str, state: str) -> None:
    assert normalize_state(raw) == state


def test_newest_good_age_ignores_bad_and_other_resources() -> None:
    def item(resource: str, hours: float, status: str) -> BackupItem:
        return BackupItem(resource, "native", "x", NOW - timedelta(hours=hours), status)  # type: ignore[arg-type]

    items = [
        item("dynamodb", 26, "AVAILABLE"),
        item("dynamodb", 2, "DELETED"),
        item("dynamodb", 1, "CREATING"),
        item("aurora", 3.25, "available"),
    ]
    assert newest_good_age_hours(items, "dynamodb", NOW) == 26.0
    assert newest_good_age_hours(items, "aurora", NOW) == 3.2
    assert newest_good_age_hours(items[:3], "aurora", NOW) is None
    continuous = BackupItem(
        "aurora",
        "aws-backup",
        "arn:aws:backup:eu-west-1:1:recovery-point:continuous:cluster-abc-1234",
        NOW - timedelta(hours=0.5),
        "COMPLETED",
    )
    assert continuous.continuous and continuous.to_dict()["continuous"] is True
    assert newest_good_age_hours([*items, continuous], "aurora", NOW) == 3.2


def test_wait_all_reports_changes_and_stops_when_all_ended() -> None:
    answers = {
        "a": iter(["RUNNING", "RUNNING", "COMPLETED"]),
        "b": iter(["RUNNING", "FAILED"]),
    }
    polls = [
        (lambda name=name: JobStatus(kind="job", job_id=name, raw_state=next(answers[name])))
        for name in ("a", "b")
    ]
    lines: list[str] = []
    sleeps: list[float] = []
    final = wait_all(polls, interval=7, progress=lines.append, sleep=sleeps.append)
    assert [s.state for s in final] == ["COMPLETED", "FAILED"]
    assert lines == ["job a: RUNNING", "job b: RUNNING", "job b: FAILED", "job a: COMPLETED"]
    assert sleeps == [7, 7]


def test_access_denied_message() -> None:
    message = (
        "User: arn:aws:iam::1:user/x is not authorized to perform: dynamodb:CreateBackup "
        "on resource: arn:aws:dynamodb:eu-west-1:1:table/app-data because no identity-based policy"
    )
    assert access_denied_message(message, "dynamodb:CreateBackup") == (
        "access denied: missing permission dynamodb:CreateBackup "
        "on arn:aws:dynamodb:eu-west-1:1:table/app-data"
    )
    assert access_denied_message("Access Denied", "backup:StartBackupJob") == (
        "access denied: missing permission backup:StartBackupJob"
    )
    rds = "User: arn:aws:iam::1:user/x is not authorized to perform: rds:CreateDBClusterSnapshot"
    assert access_denied_message(rds, "?").endswith("rds:CreateDBClusterSnapshot")


def test_explain_botocore_errors() -> None:
    def code(exc: Exception, not_found: str | None = None) -> tuple[int, str]:
        error = explain(exc, "dynamodb", "CreateBackup", "eu-west-1", not_found=not_found)
        return error.code, str(error)

    assert code(NoCredentialsError())[0] == exit_codes.AWS_AUTH
    assert code(TokenRetrievalError(provider="sso", error_msg="expired"))[1].startswith(
        "no AWS credentials"
    )
    unreachable = code(EndpointConnectionError(endpoint_url="https://dynamodb.x"))
    assert unreachable[0] == exit_codes.ERROR and "cannot reach the AWS endpoint" in unreachable[1]
    assert code(ParamValidationError(report="bad"))[0] == exit_codes.USAGE

    def client_error(error_code: str, message: str = "m") -> ClientError:
        return ClientError({"Error": {"Code": error_code, "Message": message}}, "CreateBackup")

    assert code(client_error("TableNotFoundException"), "table t") == (
        exit_codes.NOT_FOUND,
        "table t not found in eu-west-1",
    )
    assert code(client_error("AccessDeniedException", "denied")) == (
        exit_codes.AWS_AUTH,
        "access denied: missing permission dynamodb:CreateBackup",
    )
    assert code(client_error("InternalServerError", "oops\nline two")) == (
        exit_codes.ERROR,
        "CreateBackup failed (InternalServerError): oops line two",
    )


def test_project_defaults(tmp_path: Path) -> None:
    assert project_defaults("prod") == ("eu-west-1", "/appdata/prod")  # this checkout's cdk.json
    assert project_defaults("nope") == (None, None)
    broken = tmp_path / "cdk.json"
    broken.write_text("{not json")
    assert project_defaults("prod", broken) == (None, None)
    broken.write_text(json.dumps({"context": {"environments": {"qa": {"region": 3}}}}))
    assert project_defaults("qa", broken) == (None, None)


def test_from_values_requires_the_table_and_cluster() -> None:
    with pytest.raises(OpsError) as caught:
        from_values("dev", "eu-west-1", "SSM /appdata/dev/", {"table_name": "t"})
    assert caught.value.code == exit_codes.NOT_FOUND
    assert str(caught.value) == (
        "SSM /appdata/dev/ lacks table-arn, cluster-id, cluster-arn: "
        "is DatabaseStack-dev fully deployed in eu-west-1?"
    )
    deployment = from_values(
        "dev", "eu-west-1", "s",
        {"table_name": "t", "table_arn": "ta", "cluster_id": "c", "cluster_arn": "ca"},
    )  # fmt: skip
    assert deployment.vault_name is None
    with pytest.raises(OpsError, match="publishes no backup vault"):
        deployment.require_vault()


def test_document_db_instance_class_comes_from_the_environments_section(tmp_path: Path) -> None:
    from ops.project import document_db_instance_class  # noqa: PLC0415

    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"environments": {
        "prod": {"document_db": {"instance_class": "db.r6g.2xlarge"}},
        "dev": {"document_db": {}},
        "lab": {},
    }}}))  # fmt: skip
    assert document_db_instance_class("prod", cdk_json) == "db.r6g.2xlarge"
    assert document_db_instance_class("dev", cdk_json) == "db.r6g.large"
    assert document_db_instance_class("lab", cdk_json) == "db.r6g.large"
    assert document_db_instance_class("gone", tmp_path / "missing.json") == "db.r6g.large"
