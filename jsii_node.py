"""Node options for the jsii kernel, the Node.js process that runs aws-cdk-lib under app.py.

``configure()`` must run before the first ``import aws_cdk``: the kernel starts on that import
and reads ``NODE_OPTIONS`` once. Node gives V8 four worker threads whatever the machine. On
two cores they starve the one thread that synthesizes. Most of that time goes on building
CDK's CloudFormation validation engine, a WebAssembly module that triggers hundreds of
garbage collections. Measured on this project's 2-core machine: the engine was built in 1.5 s
with one worker against 2.9 s with four, and a whole ``cdk synth`` took 12.2 s against 15.1 s.
So the pool is one fewer than the usable CPUs, at most Node's own four. A pool size the user
already set in ``NODE_OPTIONS`` is kept.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

NODE_DEFAULT_POOL_SIZE = 4
_FLAG = "--v8-pool-size"


def pool_size(cpus: int) -> int:
    """V8 workers for ``cpus`` usable CPUs: one CPU left to the main thread, none above
    Node's default."""
    return max(1, min(NODE_DEFAULT_POOL_SIZE, cpus - 1))


def node_options(existing: str, cpus: int) -> str:
    """``existing`` NODE_OPTIONS with the pool size added, unless it already sets one."""
    if any(option.split("=", 1)[0] == _FLAG for option in existing.split()):
        return existing
    return f"{existing} {_FLAG}={pool_size(cpus)}".strip()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def configure(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set the pool size in ``environ``'s NODE_OPTIONS for every Node process started after."""
    environ["NODE_OPTIONS"] = node_options(environ.get("NODE_OPTIONS", ""), usable_cpus())
