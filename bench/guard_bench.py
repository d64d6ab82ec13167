#!/usr/bin/env python3
"""Guard benchmark: `python -m ops guard` per environment, with its synth and without.

Each round runs, per environment, alternating so that machine noise hits all alike:
- the guard reading an assembly already synthesized (``--cdk-out``), against the
  peer that reads the same two templates, ``cdk diff --app DIR --template FILE``;
- the guard with its own ``cdk synth``, against that ``cdk synth`` alone (what the
  guard adds to a deploy, which synthesizes anyway).
The baseline is the environment's own template (no findings; every resource compared).
Prints medians and ratios.
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
ENVIRONMENTS = ("dev", "prod")
ENV = {**os.environ, "PATH": f"{CDK.parent}{os.pathsep}{os.environ['PATH']}"}


def seconds(command: list[str], *, ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        sys.exit(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-500:]}")
    return elapsed


def synth(env: str, outdir: Path) -> list[str]:
    return [
        str(CDK),
        "synth",
        "-c",
        f"env={env}",
        "--quiet",
        "-o",
        str(outdir),
        f"DatabaseStack-{env}",
    ]


def commands(env: str, assembly: Path, scratch: Path) -> dict[str, list[str]]:
    stack = f"DatabaseStack-{env}"
    baseline = str(assembly / f"{stack}.template.json")
    guard = [sys.executable, "-m", "ops", "guard", "--env", env, "--baseline", baseline]
    return {
        "guard --cdk-out": [*guard, "--cdk-out", str(assembly)],
        "cdk diff --template": [
            str(CDK), "diff", "--app", str(assembly), "--template", baseline, stack
        ],
        "guard (with cdk synth)": guard,
        "cdk synth alone": synth(env, scratch),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for env in ENVIRONMENTS:
            assembly = Path(tmp) / f"assembly-{env}"
            seconds(synth(env, assembly))  # the assembly both readers read; warms the caches
            runs[env] = commands(env, assembly, Path(tmp) / f"scratch-{env}")
        for _ in range(args.rounds):
            for env, named in runs.items():
                for name, command in named.items():
                    times.setdefault((env, name), []).append(seconds(command))
    medians = {key: statistics.median(values) for key, values in times.items()}
    print(f"{args.rounds} rounds, medians (seconds)")
    for env in ENVIRONMENTS:
        m = {name: medians[env, name] for name in runs[env]}
        print(f"{env}:")
        for name, value in m.items():
            print(f"  {name:<24} {value:6.2f}")
        reading = m["guard --cdk-out"] / m["cdk diff --template"]
        print(f"  guard --cdk-out / cdk diff --template: {reading:.2f}x")
        added = m["guard (with cdk synth)"] - m["cdk synth alone"]
        ratio = m["guard (with cdk synth)"] / m["cdk synth alone"]
        print(f"  guard with synth / synth alone: {ratio:.2f}x (+{added:.2f} s)")
    both = {name: sum(medians[env, name] for env in ENVIRONMENTS) for name in runs["dev"]}
    print(
        "both environments: " + ", ".join(f"{name} {value:.2f} s" for name, value in both.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
