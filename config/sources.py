"""One environment's section of a cdk.json, for the commands that validate only what they use.

``ops access``, ``ops status`` and ``make local`` read one section (roles,
monitoring) without loading aws-cdk-lib or validating the rest: synth does that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from config.errors import ConfigError


def environment_section(cdk_json: object, env: str, key: str) -> tuple[object, str]:
    """(``environments.<env>.<key>`` of the cdk.json at that path, or {}; its dotted path)."""
    path = Path(str(cdk_json))
    try:
        environments = json.loads(path.read_text())["context"]["environments"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: cannot read context.environments ({exc})") from exc
    if not isinstance(environments, Mapping) or env not in environments:
        known = ", ".join(sorted(environments)) if isinstance(environments, Mapping) else ""
        raise ConfigError(f"env: unknown environment {env!r}; allowed: {known}")
    body = environments[env]
    if not isinstance(body, Mapping):
        raise ConfigError(f"environments.{env}: must be an object")
    return body.get(key) or {}, f"environments.{env}.{key}"
