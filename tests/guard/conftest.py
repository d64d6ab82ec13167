"""Real template pairs for the guard: prod synthesized through the real app, once per change.

``variants.assembly(name)`` synthesizes prod with one configuration change (the
`CHANGES` table) into its own cloud assembly, on first use, once per session;
after the session's first synthesis each costs about a second and a half.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.synth import Synthesized, cdk_json_context, synthesize

ENV = "prod"
STACK = f"DatabaseStack-{ENV}"
ACCOUNT = "123456789012"
VPC_ID = "vpc-0123456789abcdef0"
Change = Callable[[dict[str, Any]], None]


def _set(section: str, **values: object) -> Change:
    def change(prod: dict[str, Any]) -> None:
        prod.setdefault(section, {}).update(values)

    return change


def _existing_vpc(prod: dict[str, Any]) -> None:
    prod["account"] = ACCOUNT
    prod["network"]["vpc_id"] = VPC_ID


def _harmless(prod: dict[str, Any]) -> None:
    prod["tags"] = {"team": "data-platform"}
    prod["aurora"]["max_capacity"] = 32
    prod["aurora"]["log_retention_days"] = 731


def _cuts(prod: dict[str, Any]) -> None:
    prod["aurora"]["max_capacity"] = 8
    prod["aurora"]["backup_retention_days"] = 7
    prod["table"]["pitr_recovery_days"] = 14
    prod["backup"]["daily_retention_days"] = 14


CHANGES: dict[str, Change] = {
    "table-name": _set("table", table_name="app-data-v2"),
    "database-name": _set("aurora", database_name="appdata"),
    "table-encryption": _set("table", encryption="aws-managed"),
    "deletion-protection-off": lambda prod: (
        _set("table", deletion_protection=False)(prod),
        _set("aurora", deletion_protection=False)(prod),
    ),
    "removal-policy": _set("aurora", removal_policy="snapshot"),
    "engine-16": _set("aurora", engine_version="16.6"),
    "harmless": _harmless,
    "cuts": _cuts,
    "account": lambda prod: prod.update(account=ACCOUNT),
    "existing-vpc": _existing_vpc,
}


def _lookup_context() -> dict[str, Any]:
    """What `cdk.context.json` would hold after the VPC lookup of ``existing-vpc``."""
    key = (
        f"vpc-provider:account={ACCOUNT}:filter.vpc-id={VPC_ID}:region=eu-west-1:"
        "returnAsymmetricSubnets=true"
    )
    subnets = [
        {"subnetId": f"subnet-0{n}23456789abcdef0", "cidr": f"10.40.{n}.0/24",
         "availabilityZone": f"eu-west-1{zone}", "routeTableId": f"rtb-0{n}23456789abcdef0"}
        for n, zone in ((1, "a"), (2, "b"))
    ]  # fmt: skip
    return {
        key: {
            "vpcId": VPC_ID,
            "vpcCidrBlock": "10.40.0.0/16",
            "ownerAccountId": ACCOUNT,
            "availabilityZones": [],
            "subnetGroups": [{"name": "Isolated", "type": "Isolated", "subnets": subnets}],
        }
    }


@dataclass
class Variants:
    """prod as committed (the session's synthesis) and prod with each `CHANGES` entry."""

    synthesized: Synthesized
    root: Path
    _made: dict[str, Path] = field(default_factory=dict)

    def assembly(self, name: str) -> Path:
        """The cloud assembly directory of prod with change ``name`` ("committed": none)."""
        if name == "committed":
            return self.synthesized.outdir
        if name not in self._made:
            context = copy.deepcopy(cdk_json_context())
            CHANGES[name](context["environments"][ENV])
            context.update(env=ENV, **_lookup_context())
            outdir = self.root / name
            synthesize(context, outdir)
            self._made[name] = outdir
        return self._made[name]

    def template_file(self, name: str) -> Path:
        return self.assembly(name) / f"{STACK}.template.json"

    def template(self, name: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.template_file(name).read_text())
        return document

    def write(self, name: str, document: dict[str, Any]) -> Path:
        """A hand-edited baseline (a stack deployed before some change), as a file."""
        path = self.root / f"{name}.template.json"
        path.write_text(json.dumps(document))
        return path


@pytest.fixture(scope="session")
def variants(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Variants:
    return Variants(synthesized, tmp_path_factory.mktemp("guard-variants"))
