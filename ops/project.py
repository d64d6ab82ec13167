"""What this checkout's cdk.json says about an environment, for every ``--env`` command.

No botocore here: ``ops access --database-url`` and the parser use it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ops import exit_codes
from ops.errors import OpsError

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"


def require_known(env: str, cdk_json: Path = CDK_JSON) -> None:
    """An ``--env`` that this checkout's cdk.json does not define is bad input (exit 2)."""
    try:
        environments = json.loads(cdk_json.read_text())["context"]["environments"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # no readable cdk.json here: discovery will say what is deployed
    if isinstance(environments, dict) and env not in environments:
        known = ", ".join(sorted(environments))
        raise OpsError(f"unknown environment {env!r}: cdk.json defines {known}", exit_codes.USAGE)


def _environment(env: str, cdk_json: Path) -> dict[str, Any]:
    """``env``'s section of this checkout's cdk.json; empty where there is none to read."""
    try:
        body = json.loads(cdk_json.read_text())["context"]["environments"][env]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


def project_defaults(env: str, cdk_json: Path = CDK_JSON) -> tuple[str | None, str | None]:
    """(region, ssm_prefix) of ``env`` in this checkout's cdk.json, or None where unknown."""
    body = _environment(env, cdk_json)
    region = body.get("region")
    prefix = body.get("ssm_prefix")
    return (
        region if isinstance(region, str) else None,
        prefix if isinstance(prefix, str) else None,
    )


def document_db_instance_class(env: str, cdk_json: Path = CDK_JSON) -> str:
    """The instance class ``env``'s ``document_db`` section configures (its default otherwise):
    what a restored cluster's first instance should be."""
    from config.model import DocumentDbConfig  # noqa: PLC0415 - only restores need it

    default = DocumentDbConfig().instance_class
    section = _environment(env, cdk_json).get("document_db")
    configured = section.get("instance_class", default) if isinstance(section, dict) else default
    return configured if isinstance(configured, str) else default
