"""cdk-nag 3 acknowledgments, written one way everywhere.

cdk-nag 3 reads acknowledgments recorded with ``Validations.of(scope)``; they
cover the scope and its children. The reason is mandatory and must say why this
resource, specifically, is an exception.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

_PREFIX = "AwsSolutions::"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (e.g. ``AwsSolutions-IAM5[Resource::*]``)."""
    if len(reason) < 40:
        raise ValueError(f"nag acknowledgment of {rule} needs a specific reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=_PREFIX + rule, reason=reason))
