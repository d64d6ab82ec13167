"""The ``access`` section: application roles, each a name and an access level.

Its own module, without aws-cdk-lib, so that ``python -m ops access`` and
``make local`` read the same definitions as synth, validated the same way,
without starting jsii.
"""

from __future__ import annotations

from pathlib import Path

from config.errors import ConfigError
from config.model import MASTER_USERNAME, AccessConfig
from config.reader import Section
from config.sources import environment_section
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
    section, path = environment_section(cdk_json, env, "access")
    return parse_access(Section(section, path))
