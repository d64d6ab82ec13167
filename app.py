#!/usr/bin/env python3
"""The CDK app: one DatabaseStack per configured environment, checked by cdk-nag.

Configuration is read here, once, from the ``environments`` context of cdk.json;
``-c env=NAME`` synthesizes just that environment.

cdk.json runs it as ``python -O``: the jsii bindings then skip typeguard's check of
every argument of every call (about 8% of a synth). The tests build the same stacks
without ``-O``, so those checks still run over every construct in CI.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path

import jsii_node

jsii_node.configure()  # before aws_cdk's import starts the jsii kernel, which reads it once

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks

from config import ConfigError, EnvironmentConfig, NagPack, load_compliance, load_environments
from dbmigrate.compile import compile_directory
from dbmigrate.errors import MigrationError
from stacks.database_stack import DatabaseStack

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
NAG_PACKS: dict[NagPack, Callable[[cdk.App], cdk.IPolicyValidationPlugin]] = {
    NagPack.AWS_SOLUTIONS: AwsSolutionsChecks,
    NagPack.HIPAA_SECURITY: HIPAASecurityChecks,
    NagPack.NIST_800_53_R5: NIST80053R5Checks,
    NagPack.PCI_DSS_321: PCIDSS321Checks,
}


def build_app(app: cdk.App, *, migrations_dir: Path) -> list[DatabaseStack]:
    """Validate configuration and migrations, then build every selected stack under the
    configured cdk-nag packs (``compliance.packs``)."""
    configs = _configs(app)
    compliance = load_compliance(app.node.try_get_context("compliance"))
    bundle = compile_directory(migrations_dir)
    stacks = [DatabaseStack(app, config=config, migrations=bundle) for config in configs]
    cdk.Validations.of(app).add_plugins(*(NAG_PACKS[pack](app) for pack in compliance.packs))
    return stacks


def _configs(app: cdk.App) -> list[EnvironmentConfig]:
    selected = app.node.try_get_context("env")
    return load_environments(
        app.node.try_get_context("environments"),
        selected=str(selected) if selected is not None else None,
    )


def main() -> int:
    gc.freeze()  # the thousands of binding classes just imported live until exit: skip them
    app = cdk.App()
    try:
        build_app(app, migrations_dir=MIGRATIONS)
    except ConfigError as error:
        print(f"error: invalid configuration: {error}", file=sys.stderr)
        return 2
    except MigrationError as error:
        print(f"error: invalid migrations: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
