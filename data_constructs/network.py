"""DatabaseNetwork: the VPC the cluster lives in, created here or looked up.

A created VPC has only isolated subnets (no NAT gateway, no route to the
internet), flow logs, and a Secrets Manager interface endpoint so that the
secret rotation Lambda can reach the API from inside the VPC.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from config import NetworkConfig
from data_constructs.retention import retention_days


class DatabaseNetwork(Construct):
    """Exposes the VPC, the subnets the database uses, and the optional endpoint."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    secrets_manager_endpoint: ec2.InterfaceVpcEndpoint | None

    def __init__(self, scope: Construct, construct_id: str, *, config: NetworkConfig) -> None:
        super().__init__(scope, construct_id)
        if config.vpc_id is not None:
            self.vpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=config.vpc_id)
            self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
            self.secrets_manager_endpoint = None
            return
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.cidr),
            max_azs=config.max_azs,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Database", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self._flow_log_group(config)),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        self.vpc = vpc
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.secrets_manager_endpoint = vpc.add_interface_endpoint(
            "SecretsManagerEndpoint",
            service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            subnets=self.subnets,
            open=False,
        )

    def _flow_log_group(self, config: NetworkConfig) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            "FlowLogGroup",
            retention=retention_days(config.flow_log_retention_days),
            removal_policy=RemovalPolicy.RETAIN,
        )
