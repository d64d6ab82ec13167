"""The jsii kernel's Node options (jsii_node): the V8 pool size app.py sets before aws_cdk starts
the kernel, and a pool size the user chose left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jsii_node import NODE_DEFAULT_POOL_SIZE, configure, node_options, pool_size, usable_cpus

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("cpus", "expected"), [(1, 1), (2, 1), (3, 2), (4, 3), (5, 4), (64, NODE_DEFAULT_POOL_SIZE)]
)
def test_the_pool_leaves_one_cpu_to_the_main_thread_and_never_exceeds_nodes_default(
    cpus: int, expected: int
) -> None:
    assert pool_size(cpus) == expected


def test_the_pool_size_is_added_to_the_users_own_node_options() -> None:
    assert node_options("", 2) == "--v8-pool-size=1"
    assert node_options("--stack-trace-limit=50", 4) == "--stack-trace-limit=50 --v8-pool-size=3"


@pytest.mark.parametrize("chosen", ["--v8-pool-size=8", "--v8-pool-size 8", "--x --v8-pool-size=0"])
def test_a_pool_size_the_user_chose_is_kept(chosen: str) -> None:
    assert node_options(chosen, 2) == chosen


def test_configure_writes_node_options_into_the_environment_it_is_given() -> None:
    environ = {"NODE_OPTIONS": "--stack-trace-limit=50"}
    configure(environ)
    expected = f"--stack-trace-limit=50 --v8-pool-size={pool_size(usable_cpus())}"
    assert environ == {"NODE_OPTIONS": expected}


def test_the_kernel_app_py_starts_runs_with_the_pool_size(tmp_path: Path) -> None:
    """Importing app.py starts the jsii kernel; a JSII_NODE wrapper records what Node saw."""
    seen = tmp_path / "node-options"
    wrapper = tmp_path / "node"
    wrapper.write_text(f'#!/bin/sh\nprintf %s "$NODE_OPTIONS" > {seen}\nexec node "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "NODE_OPTIONS": "--stack-trace-limit=50", "JSII_NODE": str(wrapper)}
    subprocess.run(
        [sys.executable, "-c", "import app"], cwd=ROOT, env=env, check=True, timeout=120
    )  # fmt: skip
    pool = pool_size(usable_cpus())
    assert seen.read_text() == f"--stack-trace-limit=50 --v8-pool-size={pool}"
