"""Running ``ops guard``: load both templates, apply `deployguard`, print the findings.

Exit 0 when nothing blocks (warnings and the summary are printed either way),
9 (`exit_codes.BLOCKED`) when a blocking finding is not allowed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from deployguard import Allowance, Report, SchemaError, TemplateError, check
from ops import command, exit_codes
from ops.aws import Aws
from ops.command import Outcome
from ops.discovery import stack_name
from ops.errors import OpsError
from ops.guard import templates
from ops.guard.templates import Loaded
from ops.project import project_defaults

SUMMARY_LINES = 25
"""Changes listed one per line before the text summary says how many more (--json lists all)."""


def run(args: argparse.Namespace) -> int:
    return command.run(args, guard, prepare=stack_region)


def stack_region(args: argparse.Namespace) -> None:
    """Read the stack where `cdk deploy` writes it: cdk.json's region for ENV, never the
    shell's (AWS_REGION elsewhere would find no stack and pass a "first deploy").
    An explicit --region that disagrees is refused."""
    region = project_defaults(args.env)[0]
    if region is None:
        return  # not in cdk.json: open_aws refuses the environment
    if args.region and args.region != region:
        raise OpsError(
            f"--region {args.region}: cdk.json deploys {args.env} to {region}, "
            "and the guard must read the stack where `cdk deploy` writes it",
            exit_codes.USAGE,
        )
    args.region = region


def guard(args: argparse.Namespace, aws: Aws) -> Outcome:
    started = time.monotonic()
    allowances = _allowances(args.allow)
    old = _baseline(args, aws)
    name = stack_name(args.env)
    if old is None:
        text = f"{name} is not deployed in {aws.region}: a first deploy, nothing to guard"
        return Outcome({"env": args.env, "deployed": False, "blocked": False}, text)
    new = (
        templates.from_assembly(Path(args.cdk_out), args.env)
        if args.cdk_out
        else templates.synthesized(args.env)
    )
    try:
        report = check(
            old.document,
            new.document,
            region=aws.region,  # cdk.json's for ENV: stack_region pinned it
            allow=allowances,
            baseline_source=old.source,
            new_source=new.source,
        )
    except TemplateError as exc:
        raise OpsError(str(exc), exit_codes.USAGE) from exc
    except SchemaError as exc:
        raise OpsError(str(exc)) from exc
    seconds = round(time.monotonic() - started, 3)
    code = exit_codes.BLOCKED if report.blocking else exit_codes.OK
    notes = [
        f"--allow {a} matched no finding: check the logical ID and rule"
        for a in report.unused_allowances
    ]
    return Outcome(
        _document(args.env, old, new, report, seconds), _text(name, old, new, report), code, notes
    )


def _allowances(texts: list[str]) -> tuple[Allowance, ...]:
    try:
        return tuple(Allowance.parse(text) for text in texts)
    except ValueError as exc:
        raise OpsError(str(exc), exit_codes.USAGE) from exc


def _baseline(args: argparse.Namespace, aws: Aws) -> Loaded | None:
    if args.baseline:
        return templates.baseline(Path(args.baseline), args.env)
    found = templates.deployed(aws, args.env)
    if found is None and not args.new_stack_ok:
        raise OpsError(
            f"stack {stack_name(args.env)} is not deployed in {aws.region}: nothing to compare "
            "with; check --region, pass --baseline FILE, or --new-stack-ok for a first deploy",
            exit_codes.NOT_FOUND,
        )
    return found


def _document(
    env: str, old: Loaded, new: Loaded, report: Report, seconds: float
) -> dict[str, object]:
    return {
        "env": env,
        "deployed": True,
        "baseline": old.source,
        "new": new.source,
        "blocked": bool(report.blocking),
        "findings": [f.document() for f in report.findings],
        "changes": [
            {"kind": c.kind, "logical_id": c.logical_id, "resource_type": c.resource_type,
             "properties": list(c.properties)}
            for c in report.changes
        ],
        "unused_allowances": [str(a) for a in report.unused_allowances],
        "seconds": seconds,
    }  # fmt: skip


def _text(name: str, old: Loaded, new: Loaded, report: Report) -> str:
    lines = [f"guard {name}: {new.source} against {old.source}"]
    lines += [f.line() for f in report.blocking]
    lines += [f.line() for f in report.warnings]
    lines += [f.line() for f in report.allowed]
    lines += _summary(report)
    if report.blocking:
        lines.append(
            f"BLOCKED: {len(report.blocking)} blocking finding(s). Change the configuration back, "
            "or accept a finding on purpose with --allow LOGICAL_ID:RULE"
        )
    else:
        allowed = f", {len(report.allowed)} allowed" if report.allowed else ""
        lines.append(f"OK: nothing blocks ({len(report.warnings)} warning(s){allowed})")
    return "\n".join(lines)


def _summary(report: Report) -> list[str]:
    if not report.changes:
        return ["other changes: none"]
    counts: dict[str, int] = {}
    for change in report.changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    lines = ["other changes: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())]
    lines += [c.line() for c in report.changes[:SUMMARY_LINES]]
    if len(report.changes) > SUMMARY_LINES:
        lines.append(f"  ... and {len(report.changes) - SUMMARY_LINES} more (--json lists all)")
    return lines
