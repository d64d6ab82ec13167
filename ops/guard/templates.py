"""Where the guard's two templates come from: ``cdk synth``, a cloud assembly, a file, or the
deployed stack. Each failure is one line and an exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops import exit_codes
from ops.aws import Aws, call, error_code
from ops.discovery import stack_name
from ops.errors import OpsError
from ops.project import CDK_JSON

ROOT = CDK_JSON.parent
SYNTH_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Loaded:
    """A template and where it came from, as the report names it."""

    document: dict[str, Any]
    source: str


def synthesized(env: str) -> Loaded:
    """``cdk synth`` of ENV's stack into a temporary assembly, as ``cdk deploy`` would build it."""
    cdk = _cdk()
    with tempfile.TemporaryDirectory(prefix="guard-synth-") as outdir:
        command = [cdk, "synth", "-c", f"env={env}", "--quiet", "-o", outdir, stack_name(env)]
        path = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                env={**os.environ, "PATH": path},
                capture_output=True,
                text=True,
                timeout=SYNTH_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OpsError(
                f"cdk synth of {stack_name(env)} did not finish in {SYNTH_TIMEOUT_SECONDS} s"
            ) from exc
        if done.returncode != 0:
            raise _synth_failed(env, done.stderr)
        loaded = from_assembly(Path(outdir), env)
    return Loaded(loaded.document, f"`cdk synth -c env={env}`")


def _cdk() -> str:
    local = ROOT / "node_modules" / ".bin" / "cdk"
    found = str(local) if local.exists() else shutil.which("cdk")
    if found is None:
        raise OpsError("the cdk CLI is not installed: run `make install`", exit_codes.USAGE)
    return found


def _synth_failed(env: str, stderr: str) -> OpsError:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    reason = (errors or lines or ["no output"])[0]
    bad_input = "invalid configuration" in reason or "invalid migrations" in reason
    return OpsError(
        f"cdk synth of {stack_name(env)} failed: {reason}",
        exit_codes.USAGE if bad_input else exit_codes.ERROR,
    )


def from_assembly(directory: Path, env: str) -> Loaded:
    """ENV's stack template from a cloud assembly directory (``cdk synth``'s output)."""
    name = stack_name(env)
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise OpsError(
            f"{directory} is not a cloud assembly (manifest.json: {_why(exc)}): "
            f"run `cdk synth -c env={env} -o {directory}`",
            exit_codes.USAGE,
        ) from exc
    artifacts = manifest.get("artifacts") if isinstance(manifest, dict) else None
    artifact = artifacts.get(name) if isinstance(artifacts, dict) else None
    properties = artifact.get("properties") if isinstance(artifact, dict) else None
    template_file = properties.get("templateFile") if isinstance(properties, dict) else None
    if not isinstance(template_file, str) or not template_file:
        raise OpsError(
            f"{directory} holds no stack {name}: run `cdk synth -c env={env} -o {directory}`",
            exit_codes.USAGE,
        )
    return from_file(directory / template_file, what=f"{name} in {directory}")


def from_file(path: Path, *, what: str | None = None) -> Loaded:
    """A template file, JSON or (as CloudFormation accepts) YAML."""
    label = what or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OpsError(f"cannot read {label}: {_why(exc)}", exit_codes.USAGE) from exc
    except UnicodeDecodeError as exc:
        raise OpsError(f"cannot read {label}: not UTF-8 text", exit_codes.USAGE) from exc
    return Loaded(_parse(text, label), label)


def baseline(path: Path, env: str) -> Loaded:
    """``--baseline``: a template file, or a cloud assembly directory holding ENV's stack."""
    if path.is_dir():
        return from_assembly(path, env)
    return from_file(path, what=f"--baseline {path}")


def deployed(aws: Aws, env: str) -> Loaded | None:
    """The deployed stack's template as CloudFormation holds it (None: no such stack)."""
    name = stack_name(env)
    try:
        answer = call(
            aws, "cloudformation", "GetTemplate", StackName=name, TemplateStage="Original"
        )
    except OpsError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    body = answer.get("TemplateBody")
    source = f"deployed stack {name} in {aws.region}"
    document = body if isinstance(body, dict) else _parse(str(body or ""), source)
    return Loaded(document, source)


def _parse(text: str, label: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        document = _yaml(text, label)
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise OpsError(
            f"{label} is not a CloudFormation template (no Resources object)", exit_codes.USAGE
        )
    return document


def _yaml(text: str, label: str) -> object:
    """YAML with CloudFormation's short tags (!Ref, !GetAtt), read as cfn-lint reads it."""
    try:
        from cfnlint.decode import cfn_yaml  # noqa: PLC0415 - a second's import, for YAML only
    except ImportError as exc:
        raise OpsError(
            f"{label} is not JSON, and reading YAML needs cfn-lint: run `make install`"
        ) from exc
    try:
        return cfn_yaml.loads(text)
    except Exception as exc:  # cfn-lint raises its own and yaml's errors
        raise OpsError(f"{label} is neither JSON nor YAML: {_why(exc)}", exit_codes.USAGE) from exc


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
