"""What this checkout's cdk.json says about an environment, for every ``--env`` command.

No botocore here: ``ops access --database-url`` and the parser use it too.
"""

from __future__ import annotations

import json
from pathlib import Path

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


def project_defaults(env: str, cdk_json: Path = CDK_JSON) -> tuple[str | None, str | None]:
    """(region, ssm_prefix) of ``env`` in this checkout's cdk.json, or None where unknown."""
    try:
        environments = json.loads(cdk_json.read_text())["context"]["environments"]
        body = environments[env]
    except (OSError, ValueError, KeyError, TypeError):
        return None, None
    region = body.get("region") if isinstance(body, dict) else None
    prefix = body.get("ssm_prefix") if isinstance(body, dict) else None
    return (
        region if isinstance(region, str) else None,
        prefix if isinstance(prefix, str) else None,
    )


def document_db_instance_class(env: str, cdk_json: Path = CDK_JSON) -> str:
    """The instance class ``env``'s ``document_db`` section configures (its default otherwise):
    what a restored cluster's first instance should be."""
    from config.model import DocumentDbConfig  # noqa: PLC0415 - only restores need it

    default = DocumentDbConfig().instance_class
    try:
        section = json.loads(cdk_json.read_text())["context"]["environments"][env]["document_db"]
        configured = section.get("instance_class", default)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return default
    return configured if isinstance(configured, str) else default
