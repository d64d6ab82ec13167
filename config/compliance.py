"""Which cdk-nag rule packs check the app (``compliance.packs`` in cdk.json, app-wide).

AwsSolutions always runs; HIPAA.Security and NIST.800.53.R5 run unless the list
leaves them out; PCI.DSS.321 runs when listed. Any enabled pack's unacknowledged
finding fails ``cdk synth``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from config.reader import Section


class NagPack(Enum):
    """A cdk-nag pack, by the plugin name its validation report uses."""

    AWS_SOLUTIONS = "AwsSolutions"
    HIPAA_SECURITY = "HIPAA.Security"
    NIST_800_53_R5 = "NIST.800.53.R5"
    PCI_DSS_321 = "PCI.DSS.321"


DEFAULT_PACKS = (NagPack.AWS_SOLUTIONS, NagPack.HIPAA_SECURITY, NagPack.NIST_800_53_R5)


@dataclass(frozen=True, kw_only=True)
class ComplianceConfig:
    packs: tuple[NagPack, ...] = DEFAULT_PACKS


def load_compliance(raw: object) -> ComplianceConfig:
    """``compliance`` from cdk.json's context (absent: the defaults); one line per mistake."""
    section = Section({} if raw is None else raw, "compliance")
    names = {pack.value for pack in NagPack}
    listed = section.strings(
        "packs",
        names.__contains__,
        f"a cdk-nag pack ({', '.join(sorted(names))})",
    ) if section.has("packs") else tuple(p.value for p in DEFAULT_PACKS)  # fmt: skip
    section.finish()
    packs = (NagPack.AWS_SOLUTIONS, *(NagPack(n) for n in listed if n != "AwsSolutions"))
    return ComplianceConfig(packs=packs)
