"""The ``monitoring`` section: subscribers, alarm numbers, enhanced monitoring, backup age.

Its own module, without aws-cdk-lib, so that ``python -m ops status`` reads the
backup age it enforces from the same validated configuration as synth.
"""

from __future__ import annotations

from config.alarms import (
    ALARMS,
    BACKUP_MAX_AGE_HOURS,
    BACKUP_MAX_AGE_RANGE,
    ENHANCED_MONITORING_SECONDS,
    AlarmSettings,
)
from config.checks import matches
from config.model import MonitoringConfig
from config.reader import Section
from config.sources import environment_section

AGE_LOW, AGE_HIGH = BACKUP_MAX_AGE_RANGE
EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
HTTPS_URL = r"https://[^\s/$.?#][^\s]*"


def parse_monitoring(s: Section) -> MonitoringConfig:
    config = MonitoringConfig(
        emails=s.strings("emails", matches(EMAIL), "an email address"),
        https_urls=s.strings("https_urls", matches(HTTPS_URL), "an https:// URL"),
        enhanced_monitoring_seconds=s.one_of_ints(
            "enhanced_monitoring_seconds", 60, ENHANCED_MONITORING_SECONDS
        ),
        backup_max_age_hours=s.integer(
            "backup_max_age_hours", BACKUP_MAX_AGE_HOURS, low=AGE_LOW, high=AGE_HIGH
        ),
        alarms=_alarms(s.section("alarms")),
    )
    s.finish()
    return config


def load_monitoring(cdk_json: object, env: str) -> MonitoringConfig:
    """``env``'s monitoring section of a cdk.json path, validated alone."""
    section, path = environment_section(cdk_json, env, "monitoring")
    return parse_monitoring(Section(section, path))


def _alarms(s: Section) -> tuple[tuple[str, AlarmSettings], ...]:
    found = []
    for name, default in ALARMS.items():
        if not s.has(name):
            found.append((name, default.settings()))
            continue
        item = s.section(name)
        settings = AlarmSettings(
            threshold=item.number(
                "threshold", default.threshold, low=default.low, high=default.high, step=None
            ),
            period_minutes=item.one_of_ints("period_minutes", default.period_minutes, PERIODS),
            evaluation_periods=item.integer(
                "evaluation_periods", default.evaluation_periods, low=1, high=100
            ),
            enabled=item.boolean("enabled", True),
        )
        window = 7 * 24 * 60 if settings.period_minutes >= 60 else 24 * 60
        if settings.period_minutes * settings.evaluation_periods > window:
            raise item.fail(
                "evaluation_periods",
                f"{settings.evaluation_periods} periods of {settings.period_minutes} minutes "
                f"look back more than CloudWatch allows ({window // 60} hours)",
            )
        item.finish()
        found.append((name, settings))
    s.finish()
    return tuple(found)


PERIODS = (1, 5, 10, 15, 30, 60)
"""Minutes: what CloudWatch accepts for standard-resolution AWS metrics, up to an hour."""
