"""Go command-line tools the tests run for real, built from the Go module proxy at pinned versions.

Each tool is built once with ``go install`` into ``.tools/<name>/<version>/`` in the
project, so a version change builds the new one beside the old and nothing else
is ever rebuilt. The build uses the machine's own Go (``GOTOOLCHAIN=local``: no
silent toolchain download) without cgo (no C compiler needed), and keeps Go's
module and build caches in ``.tools/go/``: it needs no ``HOME`` and leaves the
user's caches alone. It needs the Go module proxy and checksum database
(``GOPROXY``, ``GOSUMDB``, as configured).

On a machine without a Go toolchain recent enough, ``ensure`` raises
``GoToolUnavailableError`` with one line saying what to install. ``make test`` runs
``python -m devtools.gotools``, which prints that line and, under ``CI=true`` only,
fails; the tests that need a tool then fail under CI and are skipped, with the
same line, elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS_DIR = ROOT / ".tools"
GO_DOWNLOAD = "https://go.dev/dl/"
GO_DEFAULT = Path("/usr/local/go/bin/go")
"""Where Go's own installer puts it, often not on a root shell's PATH."""


class GoToolUnavailableError(RuntimeError):
    """The tool is not built and cannot be: the message says why and what to install."""


@dataclass(frozen=True)
class GoTool:
    """A ``go install``-able command at a pinned version."""

    name: str
    package: str
    version: str
    min_go: tuple[int, int, int]
    """The ``go`` line of the module's go.mod: older toolchains refuse to build it."""
    tags: tuple[str, ...] = ()
    source: Path | None = None
    """A main module of this project that embeds ``package`` (built with ``go build`` there,
    its go.mod pinning ``version``), instead of ``go install package@version``."""

    @property
    def binary(self) -> Path:
        return TOOLS_DIR / self.name / self.version / self.package.rsplit("/", 1)[-1]


GOLANG_MIGRATE = GoTool(
    name="golang-migrate",
    package="github.com/golang-migrate/migrate/v4/cmd/migrate",
    version="v4.20.1",
    min_go=(1, 25, 11),
    tags=("postgres",),
)
"""The CLI the database standards name, with only the postgres driver compiled in."""

FERRETDB = GoTool(
    name="ferretdb",
    package="github.com/FerretDB/FerretDB/ferretdb",
    version="v1.24.2",
    min_go=(1, 24, 0),
    source=ROOT / "devtools" / "ferretdb",
)
"""A MongoDB wire-protocol server on SQLite, for the document store locally and in the tests
(FerretDB's own command built this way panics at start: see devtools/ferretdb/main.go)."""

TOOLS = (GOLANG_MIGRATE, FERRETDB)


def ensure(tool: GoTool) -> Path:
    """The tool's binary, built first if it is not there yet."""
    if tool.binary.is_file():
        return tool.binary
    go = _go_command()
    found = _go_version(go)
    if found < tool.min_go:
        raise GoToolUnavailableError(
            f"{tool.name} {tool.version} needs Go >= {_dotted(tool.min_go)} to build, found "
            f"{_dotted(found)} at {go}: install a newer Go from {GO_DOWNLOAD}"
        )
    _build(go, tool)
    return tool.binary


def _build(go: str, tool: GoTool) -> None:
    target = tool.binary.parent
    staging = target.with_name(f"{tool.version}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    command = (
        [go, "install"]
        if tool.source is None
        else [go, "build", "-o", str(tool_path(tool, staging))]
    )
    if tool.tags:
        command += ["-tags", ",".join(tool.tags)]
    command.append(f"{tool.package}@{tool.version}" if tool.source is None else ".")
    caches = TOOLS_DIR / "go"
    env = {
        **os.environ,
        "GOBIN": str(staging),
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
        "GOPATH": str(caches / "path"),
        "GOMODCACHE": str(caches / "mod"),
        "GOCACHE": str(caches / "build"),
        # Writable module cache: `rm -rf .tools` works without root.
        "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} -modcacherw".strip(),
    }
    print(f"building {tool.name} {tool.version} with {go} (once)...", file=sys.stderr)
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=tool.source, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = " / ".join(lines[-3:]) or f"exit code {done.returncode}, no output"
        raise GoToolUnavailableError(f"building {tool.name} {tool.version} failed: {why}")
    # Renamed into place whole: an interrupted build never leaves a binary that looks built.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    print(f"built {tool.binary} in {time.monotonic() - started:.0f} s", file=sys.stderr)


def tool_path(tool: GoTool, directory: Path) -> Path:
    """Where the tool's binary goes in ``directory`` (the staging one, during a build)."""
    return directory / tool.binary.name


def _go_command() -> str:
    go = shutil.which("go") or (str(GO_DEFAULT) if GO_DEFAULT.is_file() else None)
    if go is None:
        raise GoToolUnavailableError(
            f"the Go toolchain (`go`) is not installed: install Go from {GO_DOWNLOAD} and put "
            "its bin directory on PATH"
        )
    return go


def _go_version(go: str) -> tuple[int, int, int]:
    done = subprocess.run(
        [go, "env", "GOVERSION"],
        env={**os.environ, "GOTOOLCHAIN": "local"},
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.fullmatch(r"go(\d+)\.(\d+)(?:\.(\d+))?\S*", done.stdout.strip())
    if done.returncode != 0 or match is None:
        raise GoToolUnavailableError(
            f"cannot tell the version of {go} ({done.stderr.strip() or done.stdout.strip()}): "
            f"install Go from {GO_DOWNLOAD}"
        )
    return int(match[1]), int(match[2]), int(match[3] or 0)


def _dotted(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


def main() -> int:
    """Build every tool that is missing. Without Go: one line, and a failure only under CI."""
    for tool in TOOLS:
        try:
            ensure(tool)
        except GoToolUnavailableError as error:
            in_ci = os.environ.get("CI", "").lower() == "true"
            outcome = "fail (CI=true)" if in_ci else "are skipped (they fail under CI=true)"
            print(
                f"{'error' if in_ci else 'warning'}: {error}; the tests that run "
                f"{tool.name} {outcome}",
                file=sys.stderr,
            )
            if in_ci:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
