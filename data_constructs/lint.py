"""cfn-lint exceptions for resources that aws-cdk-lib generates, not this project.

CDK's framework Lambda functions both reference their role (GetAtt) and list it
in DependsOn; cfn-lint's W3005 calls the second redundant. The ordering is
harmless and not ours to change, so the warning is silenced on exactly those
functions, and nowhere else.
"""

from __future__ import annotations

from aws_cdk import CfnResource, Stack
from constructs import Construct, IConstruct


def allow_redundant_depends_on(scope: Construct, *path: str) -> None:
    """Mark the CDK-generated function at ``Stack/<path>`` as exempt from W3005."""
    found: IConstruct | None = Stack.of(scope)
    for part in path:
        found = found.node.try_find_child(part) if found is not None else None
    resource = found if isinstance(found, CfnResource) else found and found.node.default_child
    if isinstance(resource, CfnResource):
        resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
