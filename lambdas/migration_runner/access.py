"""The runner's second step: the application roles, after the migrations. Plain logic.

The custom resource carries the role definitions (``Roles``, canonical JSON)
and their checksum (``RolesChecksum``). Both or neither: a template synthesized
before roles existed (the rollback Update after a failed first deploy of this
feature) sends neither, and then the roles are left as they are. IAM is
required here: on Aurora ``rds_iam`` always exists, and a role that cannot log
in with a token would be useless.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dbaccess import reconcile
from dbaccess.errors import RoleDefinitionError
from dbaccess.plan import AccessPlan, RolePlan
from dbaccess.roles import RoleSet
from dbmigrate.errors import one_line
from dbmigrate.transport import Transport

log = logging.getLogger("migration_runner")

ROLES = "Roles"
ROLES_CHECKSUM = "RolesChecksum"


def parse_roles(values: Mapping[str, Any], problems: list[str]) -> RoleSet | None:
    """The validated roles, None if the template has none; a problem is appended, not raised."""
    text = str(values.get(ROLES) or "").strip()
    checksum = str(values.get(ROLES_CHECKSUM) or "").strip()
    if not text and not checksum:
        return None
    if not text or not checksum:
        problems.append(f"{ROLES} and {ROLES_CHECKSUM} come together; got only one of them")
        return None
    try:
        roles = RoleSet.from_json(text)
    except RoleDefinitionError as exc:
        problems.append(str(exc))
        return None
    if roles.checksum != checksum:
        problems.append(
            f"{ROLES_CHECKSUM} {checksum} does not match {ROLES} (expected {roles.checksum}): "
            "the template was edited by hand or comes from another synth"
        )
        return None
    return roles


def reconcile_roles(transport: Transport, roles: RoleSet | None) -> str:
    """Apply the roles; the one-line outcome for the response's Data. Raises AccessError."""
    if roles is None:
        log.warning(
            "this template carries no Roles: the application roles are left as they are",
            extra={"fields": {"event": "access-skipped"}},
        )
        return "not managed by this template"
    applied = reconcile.apply(transport, roles, require_iam=True, on_role=_log_role)
    _log_applied(applied)
    return applied.summary()


def failure_reason(exc: object) -> str:
    return f"application roles not reconciled (the migrations stay applied): {one_line(str(exc))}"


def _log_role(role: RolePlan) -> None:
    if role.status == "disable":
        log.warning(
            f"disabled role {role.name}: it is no longer in access.roles (NOLOGIN, grants "
            "revoked; not dropped)",
            extra={"fields": {"event": "role-disabled", "role": role.name}},
        )
    elif role.changes:
        log.info(
            f"role {role.name} ({role.status}): {len(role.changes)} change(s)",
            extra={
                "fields": {
                    "event": "role",
                    "role": role.name,
                    "status": role.status,
                    "changes": [change.summary for change in role.changes],
                }
            },
        )


def _log_applied(applied: AccessPlan) -> None:
    log.info(
        f"access: {applied.summary()}",
        extra={
            "fields": {
                "event": "access-done",
                "changes": len(applied.statements),
                "iam": applied.iam,
            }
        },
    )
