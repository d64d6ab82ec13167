"""``python -m ops guard`` run in-process, its exit code and output, and the findings it printed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.cli import main
from tests.guard.conftest import ENV

FINDING = re.compile(r"^(block|warn|allowed): (\S+) (\S+) (\S+) \[([a-z-]+)\]: ", re.M)


@dataclass(frozen=True)
class GuardRun:
    code: int
    out: str
    err: str

    def findings(self, label: str = "block") -> set[tuple[str, str, str, str]]:
        """(logical ID, resource type, property, rule) of each line labelled ``label``."""
        return {(m[2], m[3], m[4], m[5]) for m in FINDING.finditer(self.out) if m[1] == label}


def run_guard(
    capsys: pytest.CaptureFixture[str], baseline: Path, new: Path, *extra: str
) -> GuardRun:
    """The guard on two files: the baseline template, the new cloud assembly."""
    capsys.readouterr()
    args = ["guard", "--env", ENV, "--baseline", str(baseline), "--cdk-out", str(new), *extra]
    code = main(args)
    captured = capsys.readouterr()
    return GuardRun(code, captured.out, captured.err)
