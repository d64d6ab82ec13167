"""What the reconciler refuses or fails at; ``str()`` is always one line naming the role."""

from __future__ import annotations

from dbmigrate.errors import one_line


class AccessError(Exception):
    """Base class: one line, fit for a CloudFormation reason and a terminal."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class RoleDefinitionError(AccessError):
    """A role definition is malformed: bad name, unknown level, duplicate, bad checksum."""


class RoleConflictError(AccessError):
    """The database holds something the reconciler must not take over or fix by itself."""


class IamUnavailableError(AccessError):
    """IAM authentication was required and the server has no ``rds_iam`` role."""


class AccessStatementError(AccessError):
    """A reconciliation statement failed; the transaction was rolled back."""
