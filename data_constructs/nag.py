"""cdk-nag 3 acknowledgments, written one way everywhere.

cdk-nag 3 reads acknowledgments recorded with ``Validations.of(scope)``; they
cover the scope and its children. The reason is mandatory and must say why this
resource, specifically, is an exception.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

_PREFIX = "AwsSolutions::"
COMPLIANCE_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
"""The packs ``compliance.packs`` may enable besides AwsSolutions: a rule is acknowledged in all
of them (an acknowledgment for a pack that does not run, or lacks the rule, is never used)."""


def _require_reason(rule: str, reason: str) -> None:
    if len(reason) < 40:
        raise ValueError(f"nag acknowledgment of {rule} needs a specific reason, got {reason!r}")


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (e.g. ``AwsSolutions-IAM5[Resource::*]``)."""
    _require_reason(rule, reason)
    Validations.of(scope).acknowledge(Acknowledgment(id=_PREFIX + rule, reason=reason))


def acknowledge_compliance(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one rule of the compliance packs (e.g. ``LambdaDLQ``) in each of them."""
    _require_reason(rule, reason)
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=f"{pack}::{pack}-{rule}", reason=reason) for pack in COMPLIANCE_PACKS)
    )
