"""Compare a baseline template with a new one: the findings, with allowances, and the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from deployguard.model import Allowance, Change, Report
from deployguard.replacement import replacements
from deployguard.rules import RULES, Context
from deployguard.schemas import DEFAULT_REGION
from deployguard.template import Resource, Template

COMPARED = ("DeletionPolicy", "UpdateReplacePolicy", "Condition")


def check(
    baseline: Mapping[str, object],
    new: Mapping[str, object],
    *,
    region: str = DEFAULT_REGION,
    allow: Sequence[Allowance] = (),
    baseline_source: str = "the baseline",
    new_source: str = "the new template",
) -> Report:
    """Every rule's findings for the update from ``baseline`` to ``new``, the other changes,
    and which ``allow`` entries matched nothing (likely a typo)."""
    old_template = Template(baseline, source=baseline_source)
    new_template = Template(new, source=new_source)
    replaced, maybe = replacements(old_template, new_template, region)
    context = Context(old_template, new_template, replaced, maybe)
    findings = tuple(finding for rule in RULES for finding in rule(context))
    flagged = {f.logical_id for f in findings}
    changes = tuple(c for c in _changes(context) if c.logical_id not in flagged)
    return Report(findings=findings, changes=changes).allow(tuple(allow))


def _changes(ctx: Context) -> list[Change]:
    changes = [
        Change("added", r.logical_id, r.type) for r in ctx.new if r.logical_id not in ctx.old
    ]
    changes += [
        Change("removed", r.logical_id, r.type) for r in ctx.old if r.logical_id not in ctx.new
    ]
    for after in ctx.new:
        if after.logical_id not in ctx.old:
            continue
        before = ctx.old[after.logical_id]
        if after.logical_id in ctx.replaced:
            why = ctx.replaced[after.logical_id]
            changes.append(Change("replaced", after.logical_id, after.type, (why.property,)))
        elif differing := _differing(before, after):
            changes.append(Change("modified", after.logical_id, after.type, differing))
    return changes


def _differing(before: Resource, after: Resource) -> tuple[str, ...]:
    names = sorted(before.properties.keys() | after.properties.keys())
    found = [n for n in names if before.properties.get(n) != after.properties.get(n)]
    found += [k for k in COMPARED if before.body.get(k) != after.body.get(k)]
    return tuple(found)
