#!/usr/bin/env python3
"""Synth benchmark: `cdk synth` of this app against an empty one-stack app.

Both run through the same pinned cdk CLI, Node and venv, alternating, several
rounds each, so that machine noise hits both alike. Prints the medians and the
ratio; the goal is a full synth (every environment, cdk-nag included) within
2x of the empty app, which is the fixed cost of starting Python, jsii and Node.

The empty app runs as cdk.json runs this one (``python -O``) and sets the Node
options app.py gives its jsii kernel (jsii_node), the same way, so the ratio
compares like with like; the cdk CLI's own Node runs with the user's options in
every row. A third row, the empty app under Python's and Node's defaults, shows
what those options save a synth before this app adds anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
JSII_NODE = f"""\
import sys
sys.path.insert(0, {str(ROOT)!r})
import jsii_node
jsii_node.configure()
"""
EMPTY_APP = """\
import aws_cdk as cdk

app = cdk.App()
cdk.Stack(app, "EmptyStack")
app.synth()
"""


def synth_seconds(app_dir: Path, outdir: Path) -> float:
    env = {**os.environ, "PATH": f"{CDK.parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    subprocess.run(
        [str(CDK), "synth", "--quiet", "--output", str(outdir)],
        cwd=app_dir, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def python_flags() -> list[str]:
    """The interpreter options of this app's cdk.json command (``-O``)."""
    command = shlex.split(json.loads((ROOT / "cdk.json").read_text())["app"])
    return command[1:-1]


def make_empty_app(directory: Path, *, tuned: bool) -> Path:
    directory.mkdir()
    (directory / "app.py").write_text((JSII_NODE if tuned else "") + EMPTY_APP)
    command = [sys.executable, *(python_flags() if tuned else []), "app.py"]
    (directory / "cdk.json").write_text(json.dumps({"app": shlex.join(command)}))
    return directory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = make_empty_app(Path(tmp) / "empty", tuned=True)
        defaults = make_empty_app(Path(tmp) / "defaults", tuned=False)
        times: dict[str, list[float]] = {"empty app": [], "this app": [], "empty, defaults": []}
        for app_dir in (empty, ROOT, defaults):  # warm each row's bytecode and disk caches
            synth_seconds(app_dir, Path(tmp) / f"warm-{app_dir.name}")
        for n in range(args.rounds):
            times["empty app"].append(synth_seconds(empty, Path(tmp) / f"empty-{n}"))
            times["this app"].append(synth_seconds(ROOT, Path(tmp) / f"app-{n}"))
            out = Path(tmp) / f"defaults-{n}"
            times["empty, defaults"].append(synth_seconds(defaults, out))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        rounds = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:>15}: median {medians[name]:.2f} s  (rounds: {rounds})")
    ratio = medians["this app"] / medians["empty app"]
    print(f"{'ratio':>15}: {ratio:.2f}x  (goal: within 2.00x)")
    saved = medians["empty, defaults"] - medians["empty app"]
    print(f"{'the options':>15}: save the empty app {saved:.2f} s a synth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
