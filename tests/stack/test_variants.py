"""Configuration variants the committed cdk.json does not exercise: each synthesized once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

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
def existing_vpc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return variant(
        tmp_path_factory.mktemp("existing-vpc"),
        account=ACCOUNT,
        table={"table_name": "app-data-shared", "replica_regions": ["eu-central-1"]},
        aurora={
            "ingress_cidrs": ["10.50.8.0/22"],
            "ingress_security_group_ids": ["sg-0123456789abcdef0"],
            "readers": 2,
        },
        network={"vpc_id": VPC_ID},
        backup={
            "dr_copy": {"vault_arn": DR_VAULT, "retention_days": 60},
            "notification_emails": ["oncall@example.com"],
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


def test_configured_emails_subscribe_to_the_alert_topic(existing_vpc: dict[str, Any]) -> None:
    (subscription,) = of_type(existing_vpc, "AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"
