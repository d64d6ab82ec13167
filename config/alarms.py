"""Every alarm the stack can raise: its default threshold, period and evaluation count, and why.

Configuration (``monitoring.alarms.<name>``) may change the three numbers or
switch an alarm off; the metric, statistic and comparison are the construct's
(`data_constructs.monitoring`). All alarms need their condition in every one of
the evaluated periods (M of M): a single noisy datapoint never pages anyone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class AlarmSettings:
    """One alarm's numbers, as configured; ``enabled`` False drops the alarm."""

    threshold: float
    period_minutes: int
    evaluation_periods: int
    enabled: bool = True


@dataclass(frozen=True)
class AlarmDefault:
    """A default and the range configuration may choose from."""

    threshold: float
    period_minutes: int
    evaluation_periods: int
    low: float
    high: float
    unit: str
    reason: str

    def settings(self) -> AlarmSettings:
        return AlarmSettings(
            threshold=self.threshold,
            period_minutes=self.period_minutes,
            evaluation_periods=self.evaluation_periods,
        )


ALARMS: dict[str, AlarmDefault] = {
    "aurora_capacity": AlarmDefault(
        90, 5, 12, 10, 100, "% of max ACU",
        "an instance an hour at 90% of max ACU: every query on it waits for the ceiling",
    ),
    "aurora_cpu": AlarmDefault(
        90, 5, 3, 10, 100, "% CPU",
        "15 minutes near full CPU, while capacity could not scale it away, queues queries",
    ),
    "aurora_connections": AlarmDefault(
        80, 5, 3, 10, 100, "% of max_connections",
        "an instance at max_connections refuses new sessions; 80% leaves room to react",
    ),
    "aurora_deadlocks": AlarmDefault(
        0, 5, 3, 0, 1000, "deadlocks/s",
        "one deadlock is an application retry; deadlocks for 15 minutes are a locking bug",
    ),
    "aurora_replica_lag": AlarmDefault(
        2000, 1, 5, 100, 600_000, "ms",
        "a reader 2 s behind for 5 minutes serves stale reads to every query routed to it",
    ),
    "aurora_free_local_storage": AlarmDefault(
        2, 5, 3, 1, 1024, "GiB",
        "temporary files (sorts, hashes, index builds) fail when local storage runs out",
    ),
    "table_read_throttles": AlarmDefault(
        10, 5, 2, 0, 1_000_000, "events",
        "the SDK absorbs brief throttling; 10 minutes of it means requests fail",
    ),
    "table_write_throttles": AlarmDefault(
        10, 5, 2, 0, 1_000_000, "events",
        "the SDK absorbs brief throttling; 10 minutes of it means writes fail",
    ),
    "table_system_errors": AlarmDefault(
        0, 5, 2, 0, 1_000_000, "errors",
        "HTTP 500s from DynamoDB itself, 10 minutes in a row: an AWS-side incident to track",
    ),
    "table_replication_latency": AlarmDefault(
        60_000, 5, 3, 1000, 3_600_000, "ms",
        "replicas a minute behind for 15 minutes serve stale data and lose writes on failover",
    ),
    "runner_errors": AlarmDefault(
        0, 5, 1, 0, 1000, "errors",
        "any failed migration run: the deploy failed or rolled back, and a database may be dirty",
    ),
    "runner_throttles": AlarmDefault(
        0, 5, 1, 0, 1000, "throttles",
        "a throttled runner delays or fails a deploy: the account's concurrency is exhausted",
    ),
    "document_db_cpu": AlarmDefault(
        90, 5, 3, 10, 100, "% CPU",
        "15 minutes near full CPU on a DocumentDB instance: every query on it queues",
    ),
    "document_db_replica_lag": AlarmDefault(
        2000, 1, 5, 100, 600_000, "ms",
        "a DocumentDB replica 2 s behind for 5 minutes serves stale reads to what it answers",
    ),
    "cache_throttled_commands": AlarmDefault(
        0, 5, 2, 0, 1_000_000, "commands",
        "10 minutes of throttled commands: reads fall back to the stores, which take the load",
    ),
    "cache_ecpu": AlarmDefault(
        80, 5, 3, 10, 100, "% of max_ecpu_per_second",
        "15 minutes at 80% of the ECPU cap: past it the cache throttles instead of scaling",
    ),
    "cache_storage": AlarmDefault(
        80, 5, 3, 10, 100, "% of max_data_storage_gb",
        "at the storage cap the cache evicts and refuses writes: hits drop to the stores",
    ),
}  # fmt: skip

BACKUP_MAX_AGE_HOURS = 26
"""Daily backups run at 03:00 UTC and take minutes: 26 hours without one completed means a day
was missed (the freshness alarm, and ``ops status``'s exit code)."""
BACKUP_MAX_AGE_RANGE = (2, 168)
"""An alarm may look back at most 7 days (CloudWatch: period x evaluation periods)."""

ENHANCED_MONITORING_SECONDS = (0, 1, 5, 10, 15, 30, 60)
"""RDS's allowed intervals; 0 switches enhanced monitoring off."""
