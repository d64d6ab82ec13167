#!/usr/bin/env python3
"""Synth benchmark: `cdk synth` of this app against an empty one-stack app.

Both run through the same pinned cdk CLI, Node and venv, alternating, several
rounds each, so that machine noise hits both alike. Prints the medians and the
ratio; the goal is a full synth (every environment, cdk-nag included) within
2x of the empty app, which is the fixed cost of starting Python, jsii and Node.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
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


def make_empty_app(directory: Path) -> Path:
    (directory / "app.py").write_text(EMPTY_APP)
    (directory / "cdk.json").write_text(f'{{"app": "{sys.executable} app.py"}}')
    return directory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = make_empty_app(Path(tmp))
        times: dict[str, list[float]] = {"empty app": [], "this app": []}
        synth_seconds(empty, Path(tmp) / "warm-empty")  # warm disk caches for both
        synth_seconds(ROOT, Path(tmp) / "warm-app")
        for n in range(args.rounds):
            times["empty app"].append(synth_seconds(empty, Path(tmp) / f"empty-{n}"))
            times["this app"].append(synth_seconds(ROOT, Path(tmp) / f"app-{n}"))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        rounds = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:>10}: median {medians[name]:.2f} s  (rounds: {rounds})")
    ratio = medians["this app"] / medians["empty app"]
    print(f"     ratio: {ratio:.2f}x  (goal: within 2.00x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
