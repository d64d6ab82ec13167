"""DatabaseNetwork: the VPC the cluster lives in, created here or looked up.

A created VPC has only isolated subnets (no NAT gateway, no route to the
internet), flow logs, and a Secrets Manager interface endpoint so that the
secret rotation Lambda can reach the API from inside the VPC.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from config import NetworkConfig
from data_constructs.nag import acknowledge_compliance
from data_constructs.retention import retention_days


class DatabaseNetwork(Construct):
    """Exposes the VPC, the subnets the database uses, and the optional endpoint."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    secrets_manager_endpoint: ec2.InterfaceVpcEndpoint | None

    def __init__(
        self, scope: Construct, construct_id: str, *, config: NetworkConfig, log_key: kms.IKey
    ) -> None:
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
        flow_log = vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                self._flow_log_group(config, log_key)
            ),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        acknowledge_compliance(
            flow_log.node.find_child("IAMRole").node.find_child("DefaultPolicy"),
            "IAMNoInlinePolicy",
            "The flow log delivery role's one inline policy: writing to the FlowLogGroup only, "
            "for this role alone (VPC Flow Logs assumes it); it goes with the role.",
        )
        self.vpc = vpc
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.secrets_manager_endpoint = vpc.add_interface_endpoint(
            "SecretsManagerEndpoint",
            service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            subnets=self.subnets,
            open=False,
        )

    def _flow_log_group(self, config: NetworkConfig, log_key: kms.IKey) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            "FlowLogGroup",
            retention=retention_days(config.flow_log_retention_days),
            encryption_key=log_key,
            removal_policy=RemovalPolicy.RETAIN,
        )
