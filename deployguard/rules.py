"""The guard's rules: each reads the two templates and returns its findings.

Blocking: a stateful resource removed or replaced, an Aurora cluster moved to another
VPC, more than one GSI created or deleted on a table in one update (CloudFormation
refuses the update halfway), a GSI whose key schema changes (it is dropped and
rebuilt), deletion protection or point-in-time recovery switched off, a Retain/Snapshot
policy weakened, a stateful resource's Condition changed, an Aurora major engine
version change. Warnings: a replacement the schema calls conditional, capacity
reduced, the PITR period or a backup retention shortened. `RULES` lists them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from deployguard.model import Finding, Severity
from deployguard.replacement import TABLE_TYPES, Replacement, shown
from deployguard.template import (
    POLICY_STRENGTH,
    Resource,
    Template,
    as_list,
    canonical,
    references,
    value_at,
)

BLOCK, WARN = Severity.BLOCK, Severity.WARN
DEFAULT_PITR_DAYS = 35
DEFAULT_CLUSTER_RETENTION_DAYS = 1


@dataclass(frozen=True)
class Context:
    old: Template
    new: Template
    replaced: Mapping[str, Replacement]
    maybe_replaced: Mapping[str, Replacement]

    def pairs(self, *types: str) -> Iterator[tuple[Resource, Resource]]:
        """(before, after) of each resource of ``types`` in both templates, not replaced."""
        for after in self.new:
            if after.logical_id in self.old and after.logical_id not in self.replaced:
                before = self.old[after.logical_id]
                if not types or after.type in types:
                    yield before, after


def _finding(rule: str, severity: Severity, resource: Resource, prop: str, detail: str) -> Finding:
    return Finding(rule, severity, resource.logical_id, resource.type, prop, detail, resource.path)


def removed(ctx: Context) -> list[Finding]:
    return [
        _finding(
            "removed",
            BLOCK,
            before,
            "(resource)",
            f"stateful, gone from the new template: CloudFormation {_fate(before.deletion_policy)}",
        )
        for before in ctx.old
        if before.stateful and before.logical_id not in ctx.new
    ]


def _fate(policy: str) -> str:
    """What CloudFormation does with a resource it removes, by DeletionPolicy."""
    return {
        "Delete": "deletes it, with its data",
        "Snapshot": "snapshots it, then deletes it",
    }.get(policy, f"orphans it ({policy}): it stays, outside the stack, and nothing uses it")


def _fate_of_old(policy: str) -> str:
    """What becomes of the old resource when CloudFormation replaces it, by UpdateReplacePolicy."""
    return {
        "Delete": "the old one is deleted",
        "Snapshot": "the old one is snapshotted and deleted",
    }.get(policy, f"the old one is left outside the stack ({policy}), with the data")


def replaced(ctx: Context) -> list[Finding]:
    found = []
    for logical_id, why in ctx.replaced.items():
        before = ctx.old[logical_id]
        if before.stateful:
            detail = (
                f"{why.detail}: CloudFormation can apply this only by replacement: the "
                f"application gets a new, empty resource and "
                f"{_fate_of_old(before.update_replace_policy)}"
            )
            found.append(_finding("replaced", BLOCK, ctx.new[logical_id], why.property, detail))
    return found


def maybe_replaced(ctx: Context) -> list[Finding]:
    return [
        _finding(
            "may-replace",
            WARN,
            ctx.new[logical_id],
            why.property,
            f"{why.detail}: the schema says this change may replace the resource; check `cdk diff`",
        )
        for logical_id, why in ctx.maybe_replaced.items()
        if ctx.old[logical_id].stateful
    ]


def _index_keys(resource: Resource) -> dict[str, object]:
    return {
        str(index.get("IndexName")): canonical(index.get("KeySchema"))
        for index in as_list(resource.properties.get("GlobalSecondaryIndexes"))
        if isinstance(index, Mapping)
    }


def gsi_changes(ctx: Context) -> list[Finding]:
    found = []
    for before, after in ctx.pairs(*TABLE_TYPES):
        old, new = _index_keys(before), _index_keys(after)
        created, deleted = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
        rebuilt = sorted(n for n in old.keys() & new.keys() if old[n] != new[n])
        for name in rebuilt:
            detail = (
                f"index {name}: key schema {shown([old[name]])} -> {shown([new[name]])}: "
                "DynamoDB cannot change it in place; the index is deleted and built again, "
                "and queries on it fail meanwhile. Give the new index a new name"
            )
            found.append(_finding("gsi-recreated", BLOCK, after, "GlobalSecondaryIndexes", detail))
        if len(created) + len(deleted) + 2 * len(rebuilt) > 1:
            parts = [f"creates {', '.join(created)}"] if created else []
            parts += [f"deletes {', '.join(deleted)}"] if deleted else []
            parts += [f"rebuilds {', '.join(rebuilt)}"] if rebuilt else []
            detail = (
                f"{'; '.join(parts)}: CloudFormation accepts one GSI creation or deletion per "
                "table update and fails the rest; deploy them one at a time"
            )
            found.append(_finding("gsi-per-update", BLOCK, after, "GlobalSecondaryIndexes", detail))
    return found


def _by_replica(resource: Resource, path: str) -> dict[str, list[object]]:
    """A per-replica setting of a GlobalTable, by replica region; a Table's own under ""."""
    if resource.type != "AWS::DynamoDB::GlobalTable":
        return {"": value_at(resource.properties, path)}
    return {
        str(canonical(replica.get("Region"))): value_at(replica, path)
        for replica in as_list(resource.properties.get("Replicas"))
        if isinstance(replica, Mapping)
    }


def _switched_off(before: Resource, after: Resource, path: str) -> list[tuple[str, str]]:
    """(where, "was -> now") for each replica (or the table) where ``path`` was on, now is not."""
    was, now = _by_replica(before, path), _by_replica(after, path)
    return [
        (region, f"{shown(was[region])} -> {shown(now[region])}")
        for region in sorted(was.keys() & now.keys())
        if _on(was[region]) and not _on(now[region])
    ]


def _where(region: str) -> str:
    return f"replica {region}: " if region else ""


_CLUSTERS = ("AWS::RDS::DBCluster", "AWS::DocDB::DBCluster")
"""Aurora and DocumentDB clusters: the same engine-version, retention and subnet rules."""
_PROTECTION = {
    "AWS::RDS::DBCluster": "DeletionProtection",
    "AWS::RDS::DBInstance": "DeletionProtection",
    "AWS::DocDB::DBCluster": "DeletionProtection",
    "AWS::DynamoDB::Table": "DeletionProtectionEnabled",
    "AWS::DynamoDB::GlobalTable": "DeletionProtectionEnabled",
}


def deletion_protection(ctx: Context) -> list[Finding]:
    found = []
    for before, after in ctx.pairs(*_PROTECTION):
        prop = _PROTECTION[after.type]
        for region, change in _switched_off(before, after, prop) if before.stateful else ():
            detail = f"{_where(region)}{change}: a delete of the stack or the resource goes through"
            found.append(_finding("deletion-protection-off", BLOCK, after, prop, detail))
    return found


def _on(values: list[object]) -> bool:
    return bool(values) and all(canonical(v) == "true" for v in values)


def policies(ctx: Context) -> list[Finding]:
    found = []
    for before, after in ctx.pairs():
        if not before.stateful:
            continue
        for prop, was, now in (
            ("DeletionPolicy", before.deletion_policy, after.deletion_policy),
            ("UpdateReplacePolicy", before.update_replace_policy, after.update_replace_policy),
        ):
            if POLICY_STRENGTH.get(now, 0) < POLICY_STRENGTH.get(was, 0):
                detail = f"{was} -> {now}: removed or replaced, CloudFormation then {_fate(now)}"
                found.append(_finding("removal-policy-weakened", BLOCK, after, prop, detail))
    return found


def engine_major_version(ctx: Context) -> list[Finding]:
    found = []
    for before, after in ctx.pairs(*_CLUSTERS, "AWS::RDS::DBInstance"):
        was = before.properties.get("EngineVersion")
        now = after.properties.get("EngineVersion")
        if isinstance(was, str) and isinstance(now, str) and _major(was) != _major(now):
            detail = (
                f"{was} -> {now}: a major upgrade rewrites the catalog, takes the cluster "
                "offline and cannot be rolled back; run it as a planned change"
            )
            found.append(_finding("engine-major-version", BLOCK, after, "EngineVersion", detail))
    return found


def _major(version: str) -> str:
    """``17.9`` -> ``17``; before PostgreSQL 10 and in Aurora MySQL 5.x the major version is
    two numbers (``9.6``, ``5.7.mysql_aurora.2.11.2`` -> ``5.7``)."""
    parts = version.split(".")
    return ".".join(parts[:2]) if parts[0] in {"5", "9"} else parts[0]


def pitr(ctx: Context) -> list[Finding]:
    spec = "PointInTimeRecoverySpecification"
    enabled, period = f"{spec}/PointInTimeRecoveryEnabled", f"{spec}/RecoveryPeriodInDays"
    found = []
    for before, after in ctx.pairs(*TABLE_TYPES):
        off = _switched_off(before, after, enabled)
        for region, change in off:
            detail = f"{_where(region)}{change}: DynamoDB discards the restore window"
            found.append(_finding("pitr-disabled", BLOCK, after, spec, detail))
        if off:
            continue
        was, now = _pitr_days(before, enabled, period), _pitr_days(after, enabled, period)
        for region in sorted(was.keys() & now.keys()):
            found += _lowered(
                after,
                "pitr-shortened",
                spec,
                was=was[region],
                now=now[region],
                unit=f"days of point-in-time recovery{' in ' + region if region else ''}",
            )
    return found


def _pitr_days(resource: Resource, enabled: str, period: str) -> dict[str, float | None]:
    """The recovery period of each replica with PITR on (35 days unless stated)."""
    on = _by_replica(resource, enabled)
    return {
        region: _smallest(days) or DEFAULT_PITR_DAYS if _on(on[region]) else None
        for region, days in _by_replica(resource, period).items()
        if region in on
    }


def _lowered(
    after: Resource,
    rule: str,
    prop: str,
    *,
    was: float | None,
    now: float | None,
    unit: str,
) -> list[Finding]:
    """A warning when a number went down (either side unknown: nothing to compare)."""
    if was is None or now is None or now >= was:
        return []
    return [_finding(rule, WARN, after, prop, f"{_number(was)} -> {_number(now)} {unit}")]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _numeric(value: object) -> float | None:
    """A number, or a string CloudFormation reads as one ("14"); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


_CAPACITY = {
    "AWS::RDS::DBCluster": (
        ("ServerlessV2ScalingConfiguration/MinCapacity", "ACU minimum"),
        ("ServerlessV2ScalingConfiguration/MaxCapacity", "ACU maximum"),
    ),
    "AWS::DynamoDB::Table": (
        ("ProvisionedThroughput/ReadCapacityUnits", "read capacity units"),
        ("ProvisionedThroughput/WriteCapacityUnits", "write capacity units"),
        ("OnDemandThroughput/MaxReadRequestUnits", "on-demand maximum read units"),
        ("OnDemandThroughput/MaxWriteRequestUnits", "on-demand maximum write units"),
    ),
    "AWS::DynamoDB::GlobalTable": (
        ("WriteOnDemandThroughputSettings/MaxWriteRequestUnits", "on-demand maximum write units"),
        ("Replicas/*/ReadOnDemandThroughputSettings/MaxReadRequestUnits",
         "on-demand maximum read units"),
        ("WriteProvisionedThroughputSettings/WriteCapacityAutoScalingSettings/MaxCapacity",
         "maximum write capacity"),
    ),
}  # fmt: skip


def capacity(ctx: Context) -> list[Finding]:
    found = []
    for before, after in ctx.pairs(*_CAPACITY):
        for path, unit in _CAPACITY[after.type]:
            found += _lowered(
                after,
                "capacity-reduced",
                path,
                was=_smallest(value_at(before.properties, path)),
                now=_smallest(value_at(after.properties, path)),
                unit=unit,
            )
    return found


def _smallest(values: list[object]) -> float | None:
    numbers = [n for v in values if (n := _numeric(v)) is not None]
    return min(numbers) if numbers else None


def backup_retention(ctx: Context) -> list[Finding]:
    found = []
    for before, after in ctx.pairs(*_CLUSTERS):
        found += _lowered(
            after,
            "backup-retention-shortened",
            "BackupRetentionPeriod",
            was=_retention(before),
            now=_retention(after),
            unit="days of automated backups",
        )
    for before, after in ctx.pairs("AWS::Backup::BackupPlan"):
        was, now = _plan_retentions(before), _plan_retentions(after)
        for rule in sorted(was.keys() & now.keys()):
            found += _lowered(
                after,
                "backup-retention-shortened",
                f"BackupPlan/BackupPlanRule[{rule.replace(' ', '_')}]/Lifecycle/DeleteAfterDays",
                was=was[rule],
                now=now[rule],
                unit="days kept",
            )
    return found


def _retention(cluster: Resource) -> float | None:
    return _numeric(cluster.properties.get("BackupRetentionPeriod", DEFAULT_CLUSTER_RETENTION_DAYS))


def _plan_retentions(resource: Resource) -> dict[str, float]:
    """DeleteAfterDays of each rule of a backup plan, by rule name."""
    found = {}
    for rules in value_at(resource.properties, "BackupPlan/BackupPlanRule"):
        for rule in rules if isinstance(rules, list) else ():
            days = _smallest(value_at(rule, "Lifecycle/DeleteAfterDays"))
            if isinstance(rule, Mapping) and days is not None:
                found[str(rule.get("RuleName"))] = days
    return found


def cluster_network(ctx: Context) -> list[Finding]:
    """An Aurora cluster cannot move to another VPC in place: its subnet group keeping none of
    today's subnets (other IDs, or the same Refs to subnets that are replaced) means a new VPC.
    The same holds for a DocumentDB cluster."""
    found = []
    for before, after in ctx.pairs(*_CLUSTERS):
        group = after.properties.get("DBSubnetGroupName")
        name = group.get("Ref") if isinstance(group, Mapping) else None
        if not before.stateful or not isinstance(name, str):
            continue
        if name not in ctx.old or name not in ctx.new or name in ctx.replaced:
            continue
        was = value_at(ctx.old[name].properties, "SubnetIds")
        now = value_at(ctx.new[name].properties, "SubnetIds")
        old_ids = [canonical(i) for i in _items(was)]
        kept = [
            i
            for i in _items(now)
            if canonical(i) in old_ids and not references(i) & ctx.replaced.keys()
        ]
        if old_ids and _items(now) and not kept:
            detail = (
                f"subnet group {name}: {shown(was)} -> {shown(now)}, no subnet kept: "
                "a database cluster cannot move to another VPC in place"
            )
            found.append(_finding("vpc-changed", BLOCK, after, "DBSubnetGroupName", detail))
    return found


def condition_changed(ctx: Context) -> list[Finding]:
    """A Condition that is false makes CloudFormation delete the resource; the guard cannot
    evaluate conditions, so a changed one on a stateful resource blocks."""
    found = []
    for before, after in ctx.pairs():
        was, now = before.body.get("Condition"), after.body.get("Condition")
        if before.stateful and canonical(was) != canonical(now):
            detail = (
                f"{shown([was] if was else [])} -> {shown([now] if now else [])}: if the "
                f"condition is false, CloudFormation {_fate(before.deletion_policy)}"
            )
            found.append(_finding("condition-changed", BLOCK, after, "Condition", detail))
    return found


def _items(values: list[object]) -> list[object]:
    return [item for value in values if isinstance(value, list) for item in value]


RULES: tuple[Callable[[Context], list[Finding]], ...] = (
    removed,
    replaced,
    cluster_network,
    maybe_replaced,
    gsi_changes,
    deletion_protection,
    policies,
    condition_changed,
    engine_major_version,
    pitr,
    capacity,
    backup_retention,
)
"""Every rule, in the order the report lists their findings."""
