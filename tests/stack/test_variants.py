"""Configuration variants the committed cdk.json does not exercise: each synthesized once."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.nag_report import undocumented
from tests.fixtures.synth import cdk_json_context, synthesize

ACCOUNT = "123456789012"
VPC_ID = "vpc-0123456789abcdef0"
DR_VAULT = "arn:aws:backup:eu-central-1:123456789012:backup-vault:appdata-dr"
LOOKUP_KEY = (
    f"vpc-provider:account={ACCOUNT}:filter.vpc-id={VPC_ID}:region=eu-west-1"
    ":returnAsymmetricSubnets=true"
)
# What `cdk synth` records in cdk.context.json after a real lookup: committed, so synth is offline.
LOOKUP_VALUE = {
    "vpcId": VPC_ID,
    "vpcCidrBlock": "10.50.0.0/16",
    "ownerAccountId": ACCOUNT,
    "availabilityZones": [],
    "subnetGroups": [
        {
            "name": "Data",
            "type": "Isolated",
            "subnets": [
                {
                    "subnetId": f"subnet-0{n}23456789abcdef0",
                    "cidr": f"10.50.{n}.0/24",
                    "availabilityZone": f"eu-west-1{az}",
                    "routeTableId": f"rtb-0{n}23456789abcdef0",
                }
                for n, az in ((1, "a"), (2, "b"))
            ],
        }
    ],
}


def variant(tmp_path: Path, **env: Any) -> dict[str, Any]:
    context = copy.deepcopy(cdk_json_context())
    context["environments"] = {"shared": {"region": "eu-west-1", **env}}
    context[LOOKUP_KEY] = LOOKUP_VALUE
    assembly = synthesize(context, tmp_path)
    template: dict[str, Any] = assembly.get_stack_by_name("DatabaseStack-shared").template
    return template


@pytest.fixture(scope="module")
def existing_vpc_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("existing-vpc")


@pytest.fixture(scope="module")
def existing_vpc(existing_vpc_outdir: Path) -> dict[str, Any]:
    return variant(
        existing_vpc_outdir,
        account=ACCOUNT,
        table={"table_name": "app-data-shared", "replica_regions": ["eu-central-1"]},
        aurora={
            "ingress_cidrs": ["10.50.8.0/22"],
            "ingress_security_group_ids": ["sg-0123456789abcdef0"],
            "readers": 2,
        },
        network={"vpc_id": VPC_ID},
        backup={"dr_copy": {"vault_arn": DR_VAULT, "retention_days": 60}},
        migrations={
            "total_timeout_minutes": 30,
            "query_interval_seconds": 20,
            "invocation_budget_seconds": 300,
        },
        monitoring={
            "emails": ["oncall@example.com"],
            "https_urls": ["https://events.example.com/hook"],
            "enhanced_monitoring_seconds": 0,
            "backup_max_age_hours": 50,
            "alarms": {
                "aurora_cpu": {"threshold": 75, "period_minutes": 1, "evaluation_periods": 10},
                "runner_throttles": {"enabled": False},
                "table_replication_latency": {"threshold": 30000},
            },
        },
    )


def of_type(template: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]


def test_existing_vpc_is_used_not_created(existing_vpc: dict[str, Any]) -> None:
    assert of_type(existing_vpc, "AWS::EC2::VPC") == []
    assert of_type(existing_vpc, "AWS::EC2::VPCEndpoint") == []
    (subnet_group,) = of_type(existing_vpc, "AWS::RDS::DBSubnetGroup")
    assert subnet_group["Properties"]["SubnetIds"] == [
        "subnet-0123456789abcdef0",
        "subnet-0223456789abcdef0",
    ]


def test_configured_sources_are_the_only_extra_ingress(existing_vpc: dict[str, Any]) -> None:
    rules = [r["Properties"] for r in of_type(existing_vpc, "AWS::EC2::SecurityGroupIngress")]
    to_cluster = [
        r for r in rules if r["GroupId"]["Fn::GetAtt"][0] == "AuroraClusterSecurityGroup110C3175"
    ]
    sources = {r.get("CidrIp") or str(r["SourceSecurityGroupId"]) for r in to_cluster}
    assert sources == {
        "10.50.8.0/22",
        "sg-0123456789abcdef0",
        str({"Fn::GetAtt": ["AuroraClusterRotationSecurityGroupF919222C", "GroupId"]}),
    }
    for group in of_type(existing_vpc, "AWS::EC2::SecurityGroup"):
        assert "SecurityGroupIngress" not in group["Properties"]


def test_readers_and_replica_region(existing_vpc: dict[str, Any]) -> None:
    assert len(of_type(existing_vpc, "AWS::RDS::DBInstance")) == 3
    (table,) = of_type(existing_vpc, "AWS::DynamoDB::GlobalTable")
    assert sorted(r["Region"] for r in table["Properties"]["Replicas"]) == [
        "eu-central-1",
        "eu-west-1",
    ]


def test_scheduled_recovery_points_are_copied_to_the_dr_vault(existing_vpc: dict[str, Any]) -> None:
    scheduled = [
        p["Properties"]["BackupPlan"]
        for p in of_type(existing_vpc, "AWS::Backup::BackupPlan")
        if p["Properties"]["BackupPlan"]["BackupPlanName"] == "appdata_shared_scheduled"
    ]
    (plan,) = scheduled
    for rule in plan["BackupPlanRule"]:
        assert rule["CopyActions"] == [
            {"DestinationBackupVaultArn": DR_VAULT, "Lifecycle": {"DeleteAfterDays": 60}}
        ]


def test_configured_subscribers_subscribe_to_the_ops_topic(existing_vpc: dict[str, Any]) -> None:
    subscriptions = {
        logical_id: body["Properties"]
        for logical_id, body in existing_vpc["Resources"].items()
        if body["Type"] == "AWS::SNS::Subscription"
    }
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions.values()) == [
        ("email", "oncall@example.com"),
        ("https", "https://events.example.com/hook"),
    ]
    for subscription in subscriptions.values():
        assert subscription["TopicArn"] == {"Ref": "BackupsAlertTopic0BC42FFE"}
    # A child of the topic, as when backup.notification_emails made it: CDK's id for the path
    # Backups/AlertTopic/oncall@example.com/Resource (its md5, 8 hex digits), so moving the key
    # to monitoring.emails neither re-creates the subscription nor asks for a new confirmation.
    assert "BackupsAlertTopiconcallexamplecom2C272199" in subscriptions


def alarm_settings(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["AlarmName"].removeprefix("appdata-shared-"): r["Properties"]
        for r in of_type(template, "AWS::CloudWatch::Alarm")
    }


def test_configured_alarm_numbers_replace_the_defaults(existing_vpc: dict[str, Any]) -> None:
    alarms = alarm_settings(existing_vpc)
    for n in range(3):  # the writer and both readers
        cpu = alarms[f"Aurora-Instance{n}-CPU-Critical"]
        assert (cpu["Threshold"], cpu["EvaluationPeriods"], cpu["DatapointsToAlarm"]) == (
            75,
            10,
            10,
        )
        assert cpu["Period"] == 60
    assert "MigrationRunner-Throttled-Count-Critical" not in alarms  # enabled: false
    assert "MigrationRunner-Fault-Count-Critical" in alarms
    freshness = alarms["Backups-Freshness-Critical"]
    assert (freshness["EvaluationPeriods"], freshness["Period"]) == (50, 3600)


def test_every_reader_and_replica_region_has_its_lag_alarm(existing_vpc: dict[str, Any]) -> None:
    alarms = alarm_settings(existing_vpc)
    lag = sorted(name for name in alarms if name.endswith("ReplicaLag-Critical"))
    assert lag == [f"Aurora-Instance{n}-ReplicaLag-Critical" for n in range(3)]
    storage = sorted(name for name in alarms if "FreeLocalStorage" in name)
    assert len(storage) == 3  # the writer and both readers
    replication = alarms["AppData-Replication-eu-central-1-Critical"]
    dimensions = {d["Name"]: d["Value"] for d in replication["Dimensions"]}
    assert dimensions["ReceivingRegion"] == "eu-central-1"
    assert (replication["MetricName"], replication["Threshold"]) == ("ReplicationLatency", 30000)


def test_enhanced_monitoring_off_when_configured_zero(existing_vpc: dict[str, Any]) -> None:
    for instance in of_type(existing_vpc, "AWS::RDS::DBInstance"):
        assert "MonitoringInterval" not in instance["Properties"]
        assert "MonitoringRoleArn" not in instance["Properties"]


def test_configured_migration_timing_reaches_the_waiter_and_the_runner(
    existing_vpc: dict[str, Any],
) -> None:
    (machine,) = of_type(existing_vpc, "AWS::StepFunctions::StateMachine")
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert '\\"IntervalSeconds\\":20' in definition
    assert '\\"MaxAttempts\\":90' in definition  # 30 minutes of 20-second intervals
    (resource,) = of_type(existing_vpc, "Custom::SchemaMigrations")
    props = resource["Properties"]
    assert (props["TotalTimeoutSeconds"], props["QueryIntervalSeconds"]) == ("1800", "20")
    assert props["InvocationBudgetSeconds"] == "300"


def test_the_readme_explains_every_rule_the_variant_acknowledges(
    existing_vpc: dict[str, Any], existing_vpc_outdir: Path
) -> None:
    """Enhanced monitoring off, an imported VPC, readers and a DR copy: whatever nag
    acknowledges here also has its row in README's Compliance tables."""
    assert undocumented(existing_vpc_outdir) == set()
