"""What the guard reports: findings (blocking or warnings), allowances and the other changes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any


class Severity(Enum):
    BLOCK = "block"
    """The deploy would lose or expose data: the guard exits non-zero unless allowed."""
    WARN = "warn"
    """Worth a look before deploying, never a reason to stop."""


@dataclass(frozen=True)
class Finding:
    """One rule hit on one resource: the line an operator reads, and the fields a pipeline reads."""

    rule: str
    severity: Severity
    logical_id: str
    resource_type: str
    property: str
    detail: str
    path: str | None = None
    """The construct path (``aws:cdk:path``), when the template records it."""
    allowed: bool = False

    def line(self) -> str:
        label = "allowed" if self.allowed else self.severity.value
        where = f" ({self.path})" if self.path else ""
        return (
            f"{label}: {self.logical_id} {self.resource_type} {self.property} "
            f"[{self.rule}]: {self.detail}{where}"
        )

    def document(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "logical_id": self.logical_id,
            "resource_type": self.resource_type,
            "property": self.property,
            "detail": self.detail,
            "path": self.path,
            "allowed": self.allowed,
        }


@dataclass(frozen=True)
class Allowance:
    """``--allow LOGICAL_ID[:RULE]``: accept that resource's findings (of that rule only)."""

    logical_id: str
    rule: str | None = None

    @classmethod
    def parse(cls, text: str) -> Allowance:
        logical_id, _, rule = text.partition(":")
        if not logical_id.strip():
            raise ValueError(f"--allow {text!r}: expected LOGICAL_ID or LOGICAL_ID:RULE")
        return cls(logical_id.strip(), rule.strip() or None)

    def covers(self, finding: Finding) -> bool:
        return finding.logical_id == self.logical_id and self.rule in (None, finding.rule)

    def __str__(self) -> str:
        return f"{self.logical_id}:{self.rule}" if self.rule else self.logical_id


@dataclass(frozen=True)
class Change:
    """A resource change no rule objects to, for the summary."""

    kind: str
    """added, removed, replaced or modified."""
    logical_id: str
    resource_type: str
    properties: tuple[str, ...] = ()

    def line(self) -> str:
        what = f": {', '.join(self.properties)}" if self.properties else ""
        return f"  {self.kind:<8} {self.logical_id} {self.resource_type}{what}"


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    changes: tuple[Change, ...]
    unused_allowances: tuple[Allowance, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.BLOCK and not f.allowed)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARN and not f.allowed)

    @property
    def allowed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.allowed)

    def allow(self, allowances: tuple[Allowance, ...]) -> Report:
        """The same report with the findings ``allowances`` cover marked allowed."""
        findings = tuple(
            replace(f, allowed=any(a.covers(f) for a in allowances)) for f in self.findings
        )
        unused = tuple(a for a in allowances if not any(a.covers(f) for f in self.findings))
        return replace(self, findings=findings, unused_allowances=unused)
