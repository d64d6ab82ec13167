"""``run_ops``: the CLI in-process against the moto server (see _helpers.run_in_process)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.moto_server import MotoServer
from tests.ops._helpers import run_in_process

RunOps = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_ops(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> RunOps:
    def run(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        return run_in_process(moto, monkeypatch, capsys, *args, **options)

    return run
