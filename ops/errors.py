"""`OpsError`: a failure already phrased for the operator, with its exit code.

Its own module, free of botocore, so that ``python -m ops migrate`` can catch
it without importing the AWS SDK (only ``--env`` needs it).
"""

from __future__ import annotations

from dbmigrate.errors import one_line
from ops import exit_codes


class OpsError(Exception):
    """A failure already phrased for the operator: one line and its exit code."""

    def __init__(self, message: str, code: int = exit_codes.ERROR) -> None:
        super().__init__(one_line(message, 1000))
        self.code = code
