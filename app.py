#!/usr/bin/env python3
"""The CDK app: one DatabaseStack per configured environment, checked by cdk-nag.

Configuration is read here, once, from the ``environments`` context of cdk.json;
``-c env=NAME`` synthesizes just that environment.
"""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from config import ConfigError, EnvironmentConfig, load_environments
from stacks.database_stack import DatabaseStack


def build_app(app: cdk.App) -> list[DatabaseStack]:
    """Validate configuration, then build every selected stack under the nag checks."""
    configs = _configs(app)
    stacks = [DatabaseStack(app, config=config) for config in configs]
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def _configs(app: cdk.App) -> list[EnvironmentConfig]:
    selected = app.node.try_get_context("env")
    return load_environments(
        app.node.try_get_context("environments"),
        selected=str(selected) if selected is not None else None,
    )


def main() -> int:
    app = cdk.App()
    try:
        build_app(app)
    except ConfigError as error:
        print(f"error: invalid configuration: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
