"""The jsii kernel's Node options (jsii_node): the baseline-WebAssembly preload and the V8 pool
size that app.py sets before aws_cdk starts the kernel, with what the user set left alone."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jsii_node import (
    BASELINE_WASM,
    NODE_DEFAULT_POOL_SIZE,
    configure,
    node_options,
    pool_size,
    usable_cpus,
)

ROOT = Path(__file__).resolve().parents[2]
REQUIRE = f'--require "{BASELINE_WASM}"'
# (module (func (export "f") (result i32) i32.const 7)), section by section
WASM_SEVEN = "".join(
    (
        "0061736d01000000",  # magic, version 1
        "0105016000017f",  # type section: one type, () -> i32
        "03020100",  # function section: one function of type 0
        "07050101660000",  # export section: "f", function 0
        "0a0601040041070b",  # code section: no locals, i32.const 7, end
    )
)


def node(env: dict[str, str], script: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", *flags, "-e", script],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("cpus", "expected"), [(1, 1), (2, 1), (3, 2), (4, 3), (5, 4), (64, NODE_DEFAULT_POOL_SIZE)]
)
def test_the_pool_leaves_one_cpu_to_the_main_thread_and_never_exceeds_nodes_default(
    cpus: int, expected: int
) -> None:
    assert pool_size(cpus) == expected


def test_the_preload_and_pool_size_are_added_to_the_users_own_node_options() -> None:
    assert node_options("", 2) == f"{REQUIRE} --v8-pool-size=1"
    assert node_options("--stack-trace-limit=50", 4) == (
        f"--stack-trace-limit=50 {REQUIRE} --v8-pool-size=3"
    )


@pytest.mark.parametrize(
    "chosen",
    [
        "--v8-pool-size=8",
        "--v8-pool-size 8",
        "--x --v8-pool-size=0",
        "--v8_pool_size=8",  # Node reads _ as -
        '"--v8-pool-size=8"',  # and strips the quotes
    ],
)
def test_a_pool_size_the_user_chose_is_kept(chosen: str) -> None:
    assert node_options(chosen, 2) == f"{chosen} {REQUIRE}"


@pytest.mark.parametrize(
    "path", ['/srv/a "quoted" dir/baseline_wasm.js', "/srv/back\\slash/baseline_wasm.js"]
)
def test_a_preload_path_that_needs_escapes_is_added_once(path: str) -> None:
    once = node_options("", 2, Path(path))
    assert node_options(once, 2, Path(path)) == once
    assert once.count("--require") == 1


@pytest.mark.parametrize(
    "existing",
    [f"--require {BASELINE_WASM}.bak", f"--title={BASELINE_WASM}", "-r other.js"],
)
def test_another_option_mentioning_the_path_does_not_count_as_the_preload(existing: str) -> None:
    assert node_options(existing, 2).startswith(f"{existing} {REQUIRE}")


@pytest.mark.parametrize(
    "existing",
    [f"-r {BASELINE_WASM}", f"--require={BASELINE_WASM}", f'--require "{BASELINE_WASM}"'],
)
def test_the_preload_the_user_already_requires_is_not_added_again(existing: str) -> None:
    assert node_options(existing, 2) == f"{existing} --v8-pool-size=1"


def test_configuring_twice_adds_nothing_the_second_time() -> None:
    environ = {"NODE_OPTIONS": "--stack-trace-limit=50"}
    configure(environ)
    once = dict(environ)
    configure(environ)
    assert environ == once
    expected = f"--stack-trace-limit=50 {REQUIRE} --v8-pool-size={pool_size(usable_cpus())}"
    assert once == {"NODE_OPTIONS": expected}


def test_node_loads_the_preload_from_a_path_with_spaces_and_still_runs_webassembly(
    tmp_path: Path,
) -> None:
    """The quoting NODE_OPTIONS needs, and WebAssembly working on the baseline compiler."""
    preload = tmp_path / "a dir with spaces" / BASELINE_WASM.name
    preload.parent.mkdir()
    shutil.copy(BASELINE_WASM, preload)
    env = {**os.environ, "NODE_OPTIONS": node_options("", 2, preload)}
    script = (
        f"const bytes = Buffer.from('{WASM_SEVEN}', 'hex');"
        "const { f } = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;"
        "console.log(f());"
    )
    ran = node(env, script)
    assert (ran.returncode, ran.stdout.strip(), ran.stderr) == (0, "7", "")
    missing = {**os.environ, "NODE_OPTIONS": node_options("", 2, tmp_path / "absent.js")}
    assert node(missing, "0").returncode != 0, "a preload Node cannot find must stop it"


# (module (func (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add))
WASM_INCREMENT = "".join(
    (
        "0061736d01000000",  # magic, version 1
        "01060160017f017f",  # type section: one type, (i32) -> i32
        "03020100",  # function section: one function of type 0
        "07050101660000",  # export section: "f", function 0
        "0a09010700200041016a0b",  # code: no locals, local.get 0, i32.const 1, i32.add, end
    )
)
HOT_LOOP = f"""
const bytes = Buffer.from('{WASM_INCREMENT}', 'hex');
const {{ f }} = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
let n = 0;
const spin = () => {{ for (let i = 0; i < 1e7; i++) n = f(n) & 0xffff; }};
spin();
setTimeout(() => {{ spin(); setTimeout(() => console.log(%IsTurboFanFunction(f)), 50); }}, 50);
"""


def test_the_preload_keeps_hot_webassembly_off_the_optimizing_compiler() -> None:
    """V8's own probe (natives syntax): a hot function is optimized under Node's defaults and
    stays on the baseline compiler with the preload. Without the control, a flag V8 ignored
    would pass."""

    def optimized(node_options: str) -> str:
        env = {**os.environ, "NODE_OPTIONS": node_options}
        ran = node(env, HOT_LOOP, "--allow-natives-syntax")
        assert ran.returncode == 0, ran.stderr
        return ran.stdout.strip()

    assert optimized("") == "true"
    assert optimized(f"--require {BASELINE_WASM}") == "false"


def test_the_kernel_app_py_starts_runs_with_the_options(tmp_path: Path) -> None:
    """Importing app.py starts the jsii kernel; a JSII_NODE wrapper records what Node saw."""
    seen = tmp_path / "node-options"
    wrapper = tmp_path / "node"
    wrapper.write_text(
        f'#!/bin/sh\nprintf %s "$NODE_OPTIONS" > {shlex.quote(str(seen))}\nexec node "$@"\n'
    )
    wrapper.chmod(0o755)
    env = {**os.environ, "NODE_OPTIONS": "--stack-trace-limit=50", "JSII_NODE": str(wrapper)}
    subprocess.run(
        [sys.executable, "-c", "import app"], cwd=ROOT, env=env, check=True, timeout=120
    )  # fmt: skip
    pool = pool_size(usable_cpus())
    assert seen.read_text() == f"--stack-trace-limit=50 {REQUIRE} --v8-pool-size={pool}"
