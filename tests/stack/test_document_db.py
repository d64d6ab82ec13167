"""The optional DocumentDB cluster: two environments that turn it on, synthesized once.

``docs`` has the section with its defaults (plus ingress sources), as a prod
environment would; ``docslab`` overrides every key a disposable environment
would. The committed environments have none (test_logical_ids.py asserts that
no DocumentDB resource appears there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from config import load_environments
from tests.fixtures.nag_report import read_report, undocumented
from tests.fixtures.synth import cfn_lint, of_type, run_app, synthesize_environments
from tests.stack.test_snapshots import normalized

CLUSTER = "DocumentDbCluster0BE1CDDF"
KEY = "DocumentDbKey5CAE8531"
SECRET = "DocumentDbClusterSecretD143AC6E"
PARAMETER_GROUP = "DocumentDbParameterGroupD93E7E7F"
SECURITY_GROUP = "DocumentDbClusterSecurityGroupEC24213A"
ROTATION_GROUP = "DocumentDbRotationSecurityGroup4CA82603"
STATEFUL = {
    CLUSTER: "AWS::DocDB::DBCluster",
    "DocumentDbClusterInstance1CFDC5040": "AWS::DocDB::DBInstance",
    "DocumentDbClusterInstance2AE3F6509": "AWS::DocDB::DBInstance",
    KEY: "AWS::KMS::Key",
    SECRET: "AWS::SecretsManager::Secret",
    PARAMETER_GROUP: "AWS::DocDB::DBClusterParameterGroup",
    "DocumentDbClusterSubnetsC1CF1DF2": "AWS::DocDB::DBSubnetGroup",
}
"""The deployed contract, as for Aurora in test_logical_ids.py: never edited to make a test pass."""
SOURCES = {
    "ingress_cidrs": ["10.60.0.0/16"],
    "ingress_security_group_ids": ["sg-0fedcba9876543210"],
}
LAB = {
    "instance_class": "db.t4g.medium",
    "instances": 1,
    "backup_retention_days": 3,
    "log_retention_days": 7,
    "profiler_threshold_ms": 500,
    "deletion_protection": False,
    "removal_policy": "retain",
    "secret_rotation_days": 7,
}


@pytest.fixture(scope="module")
def synthesized_docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    environments = {
        "docs": {
            "region": "eu-west-1",
            "table": {"table_name": "app-data-docs"},
            "backup": {"restore_testing": True},
            "document_db": SOURCES,
        },
        "docslab": {
            "region": "eu-west-1",
            "termination_protection": False,
            "table": {"table_name": "app-data-docslab"},
            "document_db": LAB,
        },
    }
    outdir = tmp_path_factory.mktemp("document-db")
    return outdir, synthesize_environments(environments, outdir)


@pytest.fixture(scope="module")
def docs(synthesized_docs: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return synthesized_docs[1]["docs"]


@pytest.fixture(scope="module")
def lab(synthesized_docs: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return synthesized_docs[1]["docslab"]


def resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    body: dict[str, Any] = template["Resources"][logical_id]
    return body


def test_stateful_logical_ids(docs: dict[str, Any], lab: dict[str, Any]) -> None:
    for template, instances in ((docs, 2), (lab, 1)):
        expected = {k: v for k, v in STATEFUL.items() if "Instance2" not in k or instances == 2}
        actual = {
            k: template["Resources"][k]["Type"] for k in expected if k in template["Resources"]
        }
        assert actual == expected
        assert len(of_type(template, "AWS::DocDB::DBInstance")) == instances


def test_defaults_are_documentdb_5_encrypted_protected_and_snapshotted(
    docs: dict[str, Any],
) -> None:
    cluster = resource(docs, CLUSTER)
    props = cluster["Properties"]
    assert props["EngineVersion"] == "5.0.0"
    assert (props["StorageEncrypted"], props["KmsKeyId"]) == (True, {"Fn::GetAtt": [KEY, "Arn"]})
    assert props["DeletionProtection"] is True
    assert props["BackupRetentionPeriod"] == 7
    assert (cluster["DeletionPolicy"], cluster["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    assert props["Port"] == 27017
    for instance in of_type(docs, "AWS::DocDB::DBInstance").values():
        assert instance["Properties"]["DBInstanceClass"] == "db.r6g.large"
        assert instance["Properties"]["DBClusterIdentifier"] == {"Ref": CLUSTER}
    for logical_id in (KEY, SECRET):
        assert resource(docs, logical_id)["DeletionPolicy"] == "Retain", logical_id
    for logical_id in ("DocumentDbClusterSubnetsC1CF1DF2", SECURITY_GROUP):
        assert resource(docs, logical_id).get("DeletionPolicy", "Delete") == "Delete"


def test_configured_values_reach_the_cluster(lab: dict[str, Any]) -> None:
    cluster = resource(lab, CLUSTER)
    props = cluster["Properties"]
    assert props["DeletionProtection"] is False
    assert props["BackupRetentionPeriod"] == 3
    assert cluster["DeletionPolicy"] == "Retain"
    # a retained cluster keeps the network it is in (a subnet group in use cannot be deleted)
    for logical_id in ("DocumentDbClusterSubnetsC1CF1DF2", SECURITY_GROUP):
        body = resource(lab, logical_id)
        assert (body["DeletionPolicy"], body["UpdateReplacePolicy"]) == ("Retain", "Retain")
    (instance,) = of_type(lab, "AWS::DocDB::DBInstance").values()
    assert instance["Properties"]["DBInstanceClass"] == "db.t4g.medium"
    parameters = resource(lab, PARAMETER_GROUP)["Properties"]["Parameters"]
    assert parameters["profiler_threshold_ms"] == "500"
    retention = {
        r["Properties"]["LogGroupName"]["Fn::Join"][1][-1]: r["Properties"]["RetentionInDays"]
        for r in of_type(lab, "Custom::LogRetention").values()
        if "docdb" in json.dumps(r["Properties"]["LogGroupName"])
    }
    assert retention == {"/audit": 7, "/profiler": 7}
    (schedule,) = (
        r for k, r in of_type(lab, "AWS::SecretsManager::RotationSchedule").items()
        if k.startswith("DocumentDb")
    )  # fmt: skip
    assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(7 days)"


def test_tls_is_enforced_and_audit_and_profiler_logs_exported(docs: dict[str, Any]) -> None:
    group = resource(docs, PARAMETER_GROUP)["Properties"]
    assert group["Family"] == "docdb5.0"
    assert group["Parameters"] == {
        "tls": "enabled",
        "audit_logs": "enabled",
        "profiler": "enabled",
        "profiler_threshold_ms": "100",
    }
    props = resource(docs, CLUSTER)["Properties"]
    assert props["DBClusterParameterGroupName"] == {"Ref": PARAMETER_GROUP}
    assert props["EnableCloudwatchLogsExports"] == ["audit", "profiler"]


def test_both_logs_get_the_log_key_after_their_retention(docs: dict[str, Any]) -> None:
    associations = {
        k: r for k, r in of_type(docs, "Custom::AWS").items() if k.startswith("DocumentDb")
    }
    assert len(associations) == 2
    for logical_id, body in associations.items():
        log = "audit" if "Audit" in logical_id else "profiler"
        create = json.dumps(body["Properties"]["Create"])
        assert "associateKmsKey" in create and f"/{log}" in create
        assert "LogEncryptionKeyA864C340" in create
        assert any(f"LogRetention{log}" in d for d in body["DependsOn"])


def test_credentials_come_from_the_rotated_secret(docs: dict[str, Any]) -> None:
    props = resource(docs, CLUSTER)["Properties"]
    for field in ("username", "password"):
        value = props["MasterUsername" if field == "username" else "MasterUserPassword"]
        assert value == {
            "Fn::Join": [
                "",
                ["{{resolve:secretsmanager:", {"Ref": SECRET}, f":SecretString:{field}" + "::}}"],
            ]
        }
    secret = resource(docs, SECRET)["Properties"]
    assert secret["KmsKeyId"] == {"Fn::GetAtt": [KEY, "Arn"]}
    schedules = [
        r["Properties"]
        for k, r in of_type(docs, "AWS::SecretsManager::RotationSchedule").items()
        if k.startswith("DocumentDb")
    ]
    assert [s["RotationRules"]["ScheduleExpression"] for s in schedules] == ["rate(30 days)"]
    (application,) = (
        r for k, r in of_type(docs, "AWS::Serverless::Application").items()
        if k.startswith("DocumentDb")
    )  # fmt: skip
    mapping = application["Properties"]["Location"]["ApplicationId"]["Fn::FindInMap"][0]
    assert "MongoDBRotationSingleUser" in json.dumps(docs["Mappings"][mapping])
    assert application["Properties"]["Parameters"]["vpcSecurityGroupIds"] == {
        "Fn::GetAtt": [ROTATION_GROUP, "GroupId"]
    }


def test_ingress_only_from_the_configured_sources_and_the_rotation(docs: dict[str, Any]) -> None:
    rules = resource(docs, SECURITY_GROUP)["Properties"]["SecurityGroupIngress"] + [
        r["Properties"]
        for r in of_type(docs, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [SECURITY_GROUP, "GroupId"]}
    ]
    sources = sorted(json.dumps(r.get("CidrIp") or r["SourceSecurityGroupId"]) for r in rules)
    assert sources == sorted(
        json.dumps(source)
        for source in (
            "10.60.0.0/16",
            "sg-0fedcba9876543210",
            {"Fn::GetAtt": [ROTATION_GROUP, "GroupId"]},
        )
    )
    assert {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in rules} == {("tcp", 27017, 27017)}


def test_in_the_isolated_database_subnets(docs: dict[str, Any]) -> None:
    (group,) = of_type(docs, "AWS::DocDB::DBSubnetGroup").values()
    subnets = {s["Ref"] for s in group["Properties"]["SubnetIds"]}
    isolated = {
        k for k, r in of_type(docs, "AWS::EC2::Subnet").items()
        if r["Properties"]["MapPublicIpOnLaunch"] is False and "Database" in k
    }  # fmt: skip
    assert subnets == isolated and len(subnets) == 2


def _cluster_arn(logical_id: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            ["arn:aws:rds:eu-west-1:", {"Ref": "AWS::AccountId"}, ":cluster:", {"Ref": logical_id}],
        ]
    }


def test_scheduled_backups_and_restore_tests_select_it_by_arn(docs: dict[str, Any]) -> None:
    selections = {
        r["Properties"]["BackupSelection"]["SelectionName"]: r["Properties"]["BackupSelection"]
        for r in of_type(docs, "AWS::Backup::BackupSelection").values()
    }
    scheduled = next(s for name, s in selections.items() if "Continuous" not in name)
    continuous = next(s for name, s in selections.items() if "Continuous" in name)
    assert _cluster_arn(CLUSTER) in scheduled["Resources"]
    assert _cluster_arn(CLUSTER) not in continuous["Resources"]  # AWS Backup has no PITR for it
    assert "ListOfTags" not in scheduled and "Conditions" not in scheduled
    tests = {
        r["Properties"]["ProtectedResourceType"]: r["Properties"]["ProtectedResourceArns"]
        for r in of_type(docs, "AWS::Backup::RestoreTestingSelection").values()
    }
    assert tests["DocumentDB"] == [_cluster_arn(CLUSTER)]


def _alarms(template: dict[str, Any], env: str) -> dict[str, dict[str, Any]]:
    prefix = f"appdata-{env}-DocumentDb-"
    return {
        r["Properties"]["AlarmName"].removeprefix(prefix): r["Properties"]
        for r in of_type(template, "AWS::CloudWatch::Alarm").values()
        if r["Properties"]["AlarmName"].startswith(prefix)
    }


def test_cpu_and_replica_lag_alarms_per_instance_on_the_ops_topic(
    docs: dict[str, Any], lab: dict[str, Any]
) -> None:
    alarms = _alarms(docs, "docs")
    assert sorted(alarms) == [
        "Instance0-CPU-Critical",
        "Instance0-ReplicaLag-Critical",
        "Instance1-CPU-Critical",
        "Instance1-ReplicaLag-Critical",
    ]
    instances = {0: "DocumentDbClusterInstance1CFDC5040", 1: "DocumentDbClusterInstance2AE3F6509"}
    for n, instance in instances.items():
        cpu, lag = alarms[f"Instance{n}-CPU-Critical"], alarms[f"Instance{n}-ReplicaLag-Critical"]
        for alarm in (cpu, lag):
            assert alarm["Namespace"] == "AWS/DocDB"
            assert alarm["Dimensions"] == [
                {"Name": "DBInstanceIdentifier", "Value": {"Ref": instance}}
            ]
            assert alarm["AlarmActions"] == [{"Ref": "BackupsAlertTopic0BC42FFE"}]
        assert (cpu["MetricName"], cpu["Threshold"], cpu["Period"], cpu["EvaluationPeriods"]) == (
            "CPUUtilization", 90, 300, 3,
        )  # fmt: skip
        assert (lag["MetricName"], lag["Statistic"], lag["Threshold"], lag["Period"]) == (
            "DBInstanceReplicaLag", "Maximum", 2000, 60,
        )  # fmt: skip
    # one instance: no replica to lag
    assert sorted(_alarms(lab, "docslab")) == ["Instance0-CPU-Critical"]


def test_outputs_and_parameters(docs: dict[str, Any]) -> None:
    parameters = {
        r["Properties"]["Name"].removeprefix("/appdata/docs/"): r["Properties"]["Value"]
        for r in of_type(docs, "AWS::SSM::Parameter").values()
    }
    assert parameters["document-db/cluster-id"] == {"Ref": CLUSTER}
    assert parameters["document-db/cluster-arn"] == _cluster_arn(CLUSTER)
    assert parameters["document-db/endpoint"] == {"Fn::GetAtt": [CLUSTER, "Endpoint"]}
    assert parameters["document-db/reader-endpoint"] == {"Fn::GetAtt": [CLUSTER, "ReadEndpoint"]}
    assert parameters["document-db/port"] == "27017"
    assert parameters["document-db/secret-arn"] == {
        "Ref": "DocumentDbClusterSecretAttachment95F13C3D"
    }
    outputs = docs["Outputs"]
    for key in ("DocumentDbEndpoint", "DocumentDbPort", "DocumentDbSecretArn"):
        assert outputs[key]["Description"].startswith("Also in SSM parameter /appdata/docs/")


def test_nag_packs_found_nothing_unacknowledged(
    synthesized_docs: tuple[Path, dict[str, Any]],
) -> None:
    report = read_report(synthesized_docs[0])
    plugins = {p["pluginName"]: p for p in report["pluginReports"]}
    assert "AwsSolutions" in plugins
    for name, plugin in plugins.items():
        assert (plugin["conclusion"], plugin["violations"]) == ("success", []), name
    suppressed = {
        v["ruleName"]
        for v in plugins["AwsSolutions"]["suppressedViolations"]
        if any("/DocumentDb/" in c["constructPath"] for c in v["violatingConstructs"])
    }
    # DOC4 only in docslab (3 days); DOC1 (encryption) is met, so never acknowledged.
    assert {rule.split("[")[0] for rule in suppressed if "DOC" in rule} == {
        "AwsSolutions-DOC2",
        "AwsSolutions-DOC3",
        "AwsSolutions-DOC4",
        "AwsSolutions-DOC5",
    }
    assert undocumented(report) == set(), "acknowledged but not in README's Compliance tables"


def test_template_matches_snapshot(docs: dict[str, Any], snapshot: SnapshotAssertion) -> None:
    assert normalized(docs) == snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"instance_class": "db.m5.large"},
            "instance_class: 'db.m5.large' is not a DocumentDB 5.0 instance class such as "
            "db.r6g.large or db.t4g.medium",
        ),
        ({"instance_class": "db.r6g.3xlarge"}, "instance_class: 'db.r6g.3xlarge' is not"),
        ({"instance_class": "db.r6gd.large"}, "instance_class: 'db.r6gd.large' is not"),
        ({"instances": 0}, "instances: 0 is not a whole number from 1 to 16"),
        ({"ingress_cidrs": ["0.0.0.0/0"]}, "ingress_cidrs: '0.0.0.0/0' is not an IPv4 CIDR"),
        ({"removal_policy": "destroy"}, "removal_policy: 'destroy' is not one of snapshot, retain"),
        ({"engine": "mongodb"}, "engine: unknown key; allowed keys here: backup_retention_days"),
        ([], "must be an object, got []"),
    ],
)
def test_bad_document_db_settings_exit_2_with_one_line(change: object, expected: str) -> None:
    context = {
        "environments": {
            "dev": {
                "region": "eu-west-1",
                "table": {"table_name": "app-data-dev"},
                "document_db": change,
            }
        }
    }
    result = run_app(context)
    assert result.returncode == 2
    (line,) = [l for l in result.stderr.splitlines() if l.startswith("error:")]  # noqa: E741
    assert line.startswith("error: invalid configuration: environments.dev.document_db")
    assert expected in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "instance_class",
    ["db.r5.large", "db.r6g.xlarge", "db.r6g.2xlarge", "db.r6gd.xlarge", "db.r8g.24xlarge",
     "db.t3.medium", "db.t4g.medium"],
)  # fmt: skip
def test_every_documentdb_5_instance_size_is_accepted(instance_class: str) -> None:
    raw = {"dev": {"region": "eu-west-1", "table": {"table_name": "app-data-dev"},
                   "document_db": {"instance_class": instance_class}}}  # fmt: skip
    (config,) = load_environments(raw)
    assert config.document_db is not None
    assert config.document_db.instance_class == instance_class


def test_cfn_lint_passes(synthesized_docs: tuple[Path, dict[str, Any]]) -> None:
    """`make lint` runs cfn-lint over the committed environments; these two are linted here."""
    outdir = synthesized_docs[0]
    result = cfn_lint(
        *(outdir / f"DatabaseStack-{env}.template.json" for env in ("docs", "docslab"))
    )
    assert result.returncode == 0, result.stdout + result.stderr
