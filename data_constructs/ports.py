"""Ingress rules that name their port as a number.

CDK writes a cluster's default port as its ``Endpoint.Port`` attribute in the
rules it makes through ``allow_default_port_from`` (the rotation Lambda's among
them); cdk-nag's and the compliance packs' port rules cannot read a token.
Writing the number keeps the rules' logical IDs and the value CloudFormation
resolves.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2


def write_literal_ports(connections: ec2.Connections, port: int) -> None:
    """Every ingress rule resource of the groups in ``connections``: from/to ``port``."""
    for group in connections.security_groups:
        for child in group.node.children:
            if isinstance(child, ec2.CfnSecurityGroupIngress):
                child.from_port = port
                child.to_port = port
