"""The network: isolated subnets only, flow logs, and no ingress nobody configured."""

from __future__ import annotations

import pytest

from tests.fixtures.synth import ENVIRONMENTS, Synthesized


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_isolated_subnets_in_two_azs_and_no_route_out(synthesized: Synthesized, env: str) -> None:
    subnets = synthesized.resources(env, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    azs = {str(s["Properties"]["AvailabilityZone"]) for s in subnets.values()}
    assert len(azs) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    for absent in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::Route"):
        assert synthesized.resources(env, absent) == {}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_flow_logs_capture_all_traffic_with_retention(synthesized: Synthesized, env: str) -> None:
    _, flow_log = synthesized.only(env, "AWS::EC2::FlowLog")
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    assert flow_log["Properties"]["ResourceType"] == "VPC"
    group = synthesized.resources(env, "AWS::Logs::LogGroup")["NetworkFlowLogGroup4F8CEEEF"]
    assert flow_log["Properties"]["LogGroupName"] == {"Ref": "NetworkFlowLogGroup4F8CEEEF"}
    assert group["Properties"]["RetentionInDays"] == {"dev": 14, "prod": 365}[env]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_rotation_lambda_reaches_cluster_and_endpoint(
    synthesized: Synthesized, env: str
) -> None:
    """No configured ingress sources here: the only rules are rotation -> cluster/endpoint."""
    for group in synthesized.resources(env, "AWS::EC2::SecurityGroup").values():
        assert "SecurityGroupIngress" not in group["Properties"]
    rules = [
        r["Properties"]
        for r in synthesized.resources(env, "AWS::EC2::SecurityGroupIngress").values()
    ]
    granted = {
        (
            r["GroupId"]["Fn::GetAtt"][0],
            r["SourceSecurityGroupId"]["Fn::GetAtt"][0],
            str(r["FromPort"]),
        )
        for r in rules
    }
    rotation = "AuroraClusterRotationSecurityGroupF919222C"
    assert granted == {
        # a literal port, not the Endpoint.Port attribute: readable by nag's port rules
        ("AuroraClusterSecurityGroup110C3175", rotation, "5432"),
        ("NetworkVpcSecretsManagerEndpointSecurityGroup21FC5B38", rotation, "443"),
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secrets_manager_endpoint_with_private_dns(synthesized: Synthesized, env: str) -> None:
    _, endpoint = synthesized.only(env, "AWS::EC2::VPCEndpoint")
    assert endpoint["Properties"]["VpcEndpointType"] == "Interface"
    assert endpoint["Properties"]["PrivateDnsEnabled"] is True
    assert "secretsmanager" in str(endpoint["Properties"]["ServiceName"])
