"""Node options for the jsii kernel, the Node.js process that runs aws-cdk-lib under app.py.

``configure()`` must run before the first ``import aws_cdk``: the kernel starts on that import
and reads ``NODE_OPTIONS`` once. Two options, both for the same part of every synth: CDK's
built-in CloudFormation validation, an 8.8 MB WebAssembly engine. Measured on this project's
2-core machine (medians, see the README's synth benchmark):

- **WebAssembly on the baseline compiler only** (``baseline_wasm.js``, preloaded). V8 also
  recompiles the engine's hot functions with its optimizing compiler on worker threads. That
  work competes with the synth and delays the exit, which waits for it: about 3 s a synth of
  this app, for code that runs for well under a second.
- **A V8 worker pool of one fewer than the usable CPUs**, at most Node's own four. Four workers
  on two cores starved the thread that synthesizes; the engine was built in 1.5 s with one
  worker against 2.9 s with four.

A pool size the user already set in ``NODE_OPTIONS`` is kept.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from itertools import pairwise
from pathlib import Path

NODE_DEFAULT_POOL_SIZE = 4
BASELINE_WASM = Path(__file__).resolve().parent / "baseline_wasm.js"
_POOL_FLAG = "--v8-pool-size"


def pool_size(cpus: int) -> int:
    """V8 workers for ``cpus`` usable CPUs: one CPU left to the main thread, none above
    Node's default, and at least one (0 would let Node choose its default)."""
    return max(1, min(NODE_DEFAULT_POOL_SIZE, cpus - 1))


def node_options(existing: str, cpus: int, preload: Path = BASELINE_WASM) -> str:
    """``existing`` NODE_OPTIONS with ``preload`` required and the pool size set, each unless
    it is already there."""
    tokens = _tokens(existing)
    options = [existing] if existing else []
    if not _requires(tokens, str(preload)):
        options.append(f"--require {_quoted(str(preload))}")
    if not any(_flag_name(token) == _POOL_FLAG for token in tokens):
        options.append(f"{_POOL_FLAG}={pool_size(cpus)}")
    return " ".join(options)


def _tokens(options: str) -> list[str]:
    """NODE_OPTIONS split as Node splits it: on spaces outside double quotes, with backslash
    escapes inside them."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in options:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            tokens.append("".join(current))
            current = []
        else:
            current.append(char)
    tokens.append("".join(current))
    return [token for token in tokens if token]


def _flag_name(token: str) -> str:
    """An option's name as Node compares it (``--v8_pool_size`` is ``--v8-pool-size``)."""
    return token.split("=", 1)[0].replace("_", "-")


def _requires(tokens: list[str], path: str) -> bool:
    return any(
        (flag in ("--require", "-r") and value == path) or flag == f"--require={path}"
        for flag, value in pairwise([*tokens, ""])
    )


def _quoted(path: str) -> str:
    """``path`` as NODE_OPTIONS reads it: in double quotes, with backslash escapes."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def configure(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set ``environ``'s NODE_OPTIONS for every Node process started after."""
    environ["NODE_OPTIONS"] = node_options(environ.get("NODE_OPTIONS", ""), usable_cpus())
