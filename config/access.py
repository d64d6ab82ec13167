"""The ``access`` section: application roles, each a name and an access level.

Its own module, without aws-cdk-lib, so that ``python -m ops access`` and
``make local`` read the same definitions as synth, validated the same way,
without starting jsii.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from config.errors import ConfigError
from config.model import MASTER_USERNAME, AccessConfig
from config.reader import Section
from dbaccess.errors import RoleDefinitionError
from dbaccess.roles import DEFAULT_ROLES, AccessLevel, RoleSpec, validated

_DEFAULT = [{"name": role.name, "access": role.access.value} for role in DEFAULT_ROLES]


def parse_access(s: Section) -> AccessConfig:
    """``access.roles``: a list of ``{name, access}``; default app_rw and app_ro."""
    roles = []
    for item in s.sections("roles", list(_DEFAULT)):
        name = item.string("name", pattern=r".*", hint="a role name")
        roles.append(RoleSpec(name, item.choice("access", AccessLevel)))
        item.finish()
    try:
        role_set = validated(roles, where=s.key_path("roles"), master_user=MASTER_USERNAME)
    except RoleDefinitionError as exc:
        raise ConfigError(str(exc)) from exc
    s.finish()
    return AccessConfig(roles=role_set)


def load_access(cdk_json: Path, env: str) -> AccessConfig:
    """``env``'s access section of a cdk.json, validated alone (the rest is synth's to check)."""
    try:
        environments = json.loads(cdk_json.read_text())["context"]["environments"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{cdk_json}: cannot read context.environments ({exc})") from exc
    if not isinstance(environments, Mapping) or env not in environments:
        known = ", ".join(sorted(environments)) if isinstance(environments, Mapping) else ""
        raise ConfigError(f"env: unknown environment {env!r}; allowed: {known}")
    body = environments[env]
    path = f"environments.{env}"
    if not isinstance(body, Mapping):
        raise ConfigError(f"{path}: must be an object")
    return parse_access(Section(body.get("access") or {}, f"{path}.access"))
