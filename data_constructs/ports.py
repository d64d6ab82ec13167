"""Network rules shared by the database constructs: ports as numbers, rotation groups.

Ingress rules that name their port as a number:

CDK writes a cluster's default port as its ``Endpoint.Port`` attribute in the
rules it makes through ``allow_default_port_from`` (the rotation Lambda's among
them); cdk-nag's and the compliance packs' port rules cannot read a token.
Writing the number keeps the rules' logical IDs and the value CloudFormation
resolves.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct


def write_literal_ports(connections: ec2.Connections, port: int) -> None:
    """Every ingress rule resource of the groups in ``connections``: from/to ``port``."""
    for group in connections.security_groups:
        for child in group.node.children:
            if isinstance(child, ec2.CfnSecurityGroupIngress):
                child.from_port = port
                child.to_port = port


def rotation_security_group(
    scope: Construct,
    *,
    vpc: ec2.IVpc,
    endpoint: ec2.IInterfaceVpcEndpoint | None,
    description: str,
    endpoint_rule: str,
) -> ec2.SecurityGroup:
    """``RotationSecurityGroup`` of a secret-rotation Lambda in the VPC: the only group, with
    the other stores', that the Secrets Manager endpoint admits (``endpoint_rule``)."""
    group = ec2.SecurityGroup(
        scope, "RotationSecurityGroup", vpc=vpc, description=description, allow_all_outbound=True
    )
    if endpoint is not None:
        endpoint.connections.allow_default_port_from(group, endpoint_rule)
    return group
