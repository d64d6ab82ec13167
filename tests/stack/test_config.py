"""Bad configuration stops synth with one line naming the key and what is allowed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from config import ALARMS, AlarmSettings, ConfigError, load_environments
from config.loader import LOG_RETENTION_DAYS
from data_constructs.retention import _BY_DAYS
from tests.fixtures.synth import cdk_json_context, run_app


def environments() -> dict[str, Any]:
    return copy.deepcopy(cdk_json_context()["environments"])


def with_change(env: str, section: str | None, key: str, value: object) -> dict[str, Any]:
    raw = environments()
    target = raw[env] if section is None else raw[env].setdefault(section, {})
    target[key] = value
    return raw


def error_for(raw: object, selected: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_environments(raw, selected=selected)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_committed_configuration_is_valid() -> None:
    configs = load_environments(environments())
    assert [c.name for c in configs] == ["dev", "prod"]
    prod = configs[1]
    assert prod.table.table_name == "app-data"
    assert prod.aurora.deletion_protection and prod.table.deletion_protection


def test_selecting_one_environment() -> None:
    assert [c.name for c in load_environments(environments(), selected="dev")] == ["dev"]


def test_unknown_environment_names_the_allowed_ones() -> None:
    assert error_for(environments(), "staging") == (
        "env: unknown environment 'staging'; allowed: dev, prod"
    )


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("aurora", "min_capacity", 8, "environments.dev.aurora.min_capacity: 8 is greater than"),
        ("aurora", "max_capacity", 2.3, "environments.dev.aurora.max_capacity: 2.3 is not a multiple of 0.5"),
        ("aurora", "max_capacity", 512, "environments.dev.aurora.max_capacity: 512 is not a number from 1 to 256"),
        ("aurora", "min_capacity", -1, "environments.dev.aurora.min_capacity: -1 is not a number from 0 to 256"),
        ("aurora", "backup_retention_days", 36, "environments.dev.aurora.backup_retention_days: 36 is not a whole number from 1 to 35"),
        ("aurora", "log_retention_days", 10, "environments.dev.aurora.log_retention_days: 10 is not one of 1, 3, 5"),
        ("aurora", "log_retention_days", 14.0, "environments.dev.aurora.log_retention_days: 14.0 is not one of 1, 3, 5"),
        ("table", "pitr_recovery_days", 0, "environments.dev.table.pitr_recovery_days: 0 is not a whole number from 1 to 35"),
        ("aurora", "engine_version", "17.0", "environments.dev.aurora.engine_version: '17.0' is not an aurora-postgresql"),
        ("aurora", "ingress_cidrs", ["0.0.0.0/0"], "environments.dev.aurora.ingress_cidrs: '0.0.0.0/0' is not an IPv4 CIDR narrower than /0"),
        ("aurora", "readers", True, "environments.dev.aurora.readers: True is not a whole number"),
        ("table", "encryption", "kms", "environments.dev.table.encryption: 'kms' is not one of aws-managed, customer-managed"),
        ("table", "table_nmae", "x", "environments.dev.table.table_nmae: unknown key; allowed keys here:"),
        ("table", "replica_regions", ["eu-west-1"], "environments.dev.table.replica_regions: 'eu-west-1' is the stack's own region"),
        (None, "account", "12345", "environments.dev.account: '12345' is not a 12-digit AWS account id"),
        (None, "region", "Europe", "environments.dev.region: 'Europe' is not an AWS region such as eu-west-1"),
        ("network", "cidr", "8.8.0.0/16", "environments.dev.network.cidr: '8.8.0.0/16' is not a private IPv4 CIDR"),
        ("network", "max_azs", 3, "environments.dev.network.max_azs: more than 2 AZs needs the environment's account"),
        ("network", "vpc_id", "vpc-0123456789abcdef0", "environments.dev.network.vpc_id: an existing VPC needs the environment's account"),
        ("migrations", "total_timeout_minutes", 120, "environments.dev.migrations.total_timeout_minutes: 120 is not a whole number from 2 to 60"),
        ("migrations", "invocation_budget_seconds", 840, "environments.dev.migrations.invocation_budget_seconds: 840 is not a whole number from 30 to 780"),
        ("migrations", "query_interval_seconds", 7, "environments.dev.migrations.query_interval_seconds: 7 must divide total_timeout_minutes * 60 (3600)"),
        ("migrations", "timeout", 5, "environments.dev.migrations.timeout: unknown key"),
    ],
)  # fmt: skip
def test_bad_value_is_one_line_naming_the_key(
    section: str | None, key: str, value: object, expected: str
) -> None:
    assert error_for(with_change("dev", section, key, value)).startswith(expected)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"vault_lock": {"min_retention_days": 30}}, "environments.prod.backup.daily_retention_days: 7 is outside vault_lock's 30-36500 days"),
        ({"vault_lock": {"min_retention_days": 9, "max_retention_days": 8}}, "environments.prod.backup.vault_lock.min_retention_days: 9 is greater than max_retention_days 8"),
        ({"dr_copy": {"vault_arn": "arn:aws:backup:eu-west-1:123456789012:backup-vault:dr"}}, "environments.prod.backup.dr_copy.vault_arn: is in eu-west-1, the stack's own region"),
        ({"dr_copy": {"vault_arn": "vault-dr"}}, "environments.prod.backup.dr_copy.vault_arn: 'vault-dr' is not a backup vault ARN"),
        ({"notification_emails": ["ops@example.com"]}, "environments.prod.backup.notification_emails: moved to monitoring.emails (the ops topic's subscribers; the same subscriptions, not re-created)"),
        ({"continuous_retention_days": 7}, "environments.prod.backup.continuous_retention_days: unknown key"),
    ],
)  # fmt: skip
def test_bad_backup_settings(change: dict[str, Any], expected: str) -> None:
    raw = environments()
    raw["prod"]["backup"] = {"daily_retention_days": 7, **change}
    assert error_for(raw).startswith(expected)


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([{"name": "App_RW", "access": "read-write"}], "environments.dev.access.roles[0].name: 'App_RW' is not a lowercase PostgreSQL identifier (a-z, 0-9 and _, not starting with a digit, at most 63 characters)"),
        ([{"name": "9lives", "access": "read-only"}], "environments.dev.access.roles[0].name: '9lives' is not a lowercase PostgreSQL identifier"),
        ([{"name": "a" * 64, "access": "read-only"}], "environments.dev.access.roles[0].name: '" + "a" * 64 + "' is not a lowercase"),
        ([{"name": "postgres", "access": "read-only"}], "environments.dev.access.roles[0].name: 'postgres' is reserved"),
        ([{"name": "rdsadmin", "access": "read-only"}], "environments.dev.access.roles[0].name: 'rdsadmin' is reserved"),
        ([{"name": "rds_iam", "access": "read-only"}], "environments.dev.access.roles[0].name: 'rds_iam' is reserved"),
        ([{"name": "pg_monitor", "access": "read-only"}], "environments.dev.access.roles[0].name: 'pg_monitor' is reserved"),
        ([{"name": "public", "access": "read-only"}], "environments.dev.access.roles[0].name: 'public' is reserved"),
        ([{"name": "app_rw", "access": "read-write"}, {"name": "app_rw", "access": "read-only"}], "environments.dev.access.roles[1].name: 'app_rw' is a duplicate of environments.dev.access.roles[0]"),
        ([{"name": "app_rw", "access": "read-write"}, {"name": "app__rw", "access": "read-only"}], "environments.dev.access.roles[1].name: 'app__rw' and 'app_rw' (environments.dev.access.roles[0]) would share the construct id AppRw: rename one"),
        ([{"name": "app_rw", "access": "owner"}], "environments.dev.access.roles[0].access: 'owner' is not one of read-write, read-only"),
        ([{"name": "app_rw"}], "environments.dev.access.roles[0].access: is required"),
        ([{"name": "app_rw", "access": "read-write", "password": "x"}], "environments.dev.access.roles[0].password: unknown key"),
        ([{"name": f"r{n}", "access": "read-only"} for n in range(21)], "environments.dev.access.roles: at most 20 roles, got 21"),
        ("app_rw", "environments.dev.access.roles: 'app_rw' is not a list of objects"),
        (["app_rw"], "environments.dev.access.roles[0]: must be an object, got 'app_rw'"),
    ],
)  # fmt: skip
def test_bad_access_roles_are_one_line_naming_the_key(roles: object, expected: str) -> None:
    assert error_for(with_change("dev", "access", "roles", roles)).startswith(expected)


def test_access_defaults_and_an_empty_list() -> None:
    (dev,) = load_environments(environments(), selected="dev")
    assert [(r.name, r.access.value) for r in dev.access.roles] == [
        ("app_rw", "read-write"),
        ("app_ro", "read-only"),
    ]
    (none,) = load_environments(with_change("dev", "access", "roles", []), selected="dev")
    assert len(none.access.roles) == 0


@pytest.mark.parametrize(
    ("monitoring", "expected"),
    [
        ({"emails": ["ops"]}, "environments.prod.monitoring.emails: 'ops' is not an email address"),
        ({"emails": ["a@b.io", "a@b.io"]}, "environments.prod.monitoring.emails: contains duplicates"),
        ({"https_urls": ["http://hooks.example.com"]}, "environments.prod.monitoring.https_urls: 'http://hooks.example.com' is not an https:// URL"),
        ({"enhanced_monitoring_seconds": 2}, "environments.prod.monitoring.enhanced_monitoring_seconds: 2 is not one of 0, 1, 5, 10, 15, 30, 60"),
        ({"backup_max_age_hours": 1}, "environments.prod.monitoring.backup_max_age_hours: 1 is not a whole number from 2 to 168"),
        ({"backup_max_age_hours": 169}, "environments.prod.monitoring.backup_max_age_hours: 169 is not a whole number from 2 to 168"),
        ({"alarms": {"aurora_cpu": {"threshold": 5}}}, "environments.prod.monitoring.alarms.aurora_cpu.threshold: 5 is not a number from 10 to 100"),
        ({"alarms": {"aurora_capacity": {"threshold": 101}}}, "environments.prod.monitoring.alarms.aurora_capacity.threshold: 101 is not a number from 10 to 100"),
        ({"alarms": {"aurora_replica_lag": {"threshold": "2s"}}}, "environments.prod.monitoring.alarms.aurora_replica_lag.threshold: '2s' is not a number"),
        ({"alarms": {"table_read_throttles": {"period_minutes": 7}}}, "environments.prod.monitoring.alarms.table_read_throttles.period_minutes: 7 is not one of 1, 5, 10, 15, 30, 60"),
        ({"alarms": {"runner_errors": {"evaluation_periods": 0}}}, "environments.prod.monitoring.alarms.runner_errors.evaluation_periods: 0 is not a whole number from 1 to 100"),
        ({"alarms": {"aurora_cpu": {"period_minutes": 30, "evaluation_periods": 60}}}, "environments.prod.monitoring.alarms.aurora_cpu.evaluation_periods: 60 periods of 30 minutes look back more than CloudWatch allows (24 hours)"),
        ({"alarms": {"aurora_cpu": {"enabled": "no"}}}, "environments.prod.monitoring.alarms.aurora_cpu.enabled: 'no' is not true or false"),
        ({"alarms": {"aurora_cpu": {"treshold": 50}}}, "environments.prod.monitoring.alarms.aurora_cpu.treshold: unknown key"),
        ({"alarms": {"aurora_iops": {}}}, "environments.prod.monitoring.alarms.aurora_iops: unknown key; allowed keys here: aurora_capacity,"),
        ({"pager": "x"}, "environments.prod.monitoring.pager: unknown key"),
    ],
)  # fmt: skip
def test_bad_monitoring_settings(monitoring: dict[str, Any], expected: str) -> None:
    raw = environments()
    raw["prod"]["monitoring"] = monitoring
    assert error_for(raw).startswith(expected)


def test_monitoring_defaults_and_overrides() -> None:
    raw = environments()
    raw["prod"]["monitoring"] = {
        "alarms": {"aurora_cpu": {"threshold": 75.5}, "runner_throttles": {"enabled": False}}
    }
    (_, prod) = load_environments(raw)
    assert prod.monitoring.alarm("aurora_cpu") == AlarmSettings(
        threshold=75.5, period_minutes=5, evaluation_periods=3
    )
    assert prod.monitoring.alarm("runner_throttles") is None
    assert prod.monitoring.alarm("aurora_deadlocks") == ALARMS["aurora_deadlocks"].settings()
    assert (prod.monitoring.enhanced_monitoring_seconds, prod.monitoring.backup_max_age_hours) == (
        60,
        26,
    )
    for name, default in ALARMS.items():
        assert default.low <= default.threshold <= default.high, name
        assert len(default.reason) > 30, name


def test_migrations_defaults_and_two_checks_at_least() -> None:
    dev = load_environments(environments(), selected="dev")[0].migrations
    assert (dev.total_timeout_minutes, dev.query_interval_seconds) == (60, 30)
    assert dev.invocation_budget_seconds == 600
    raw = environments()
    raw["dev"]["migrations"] = {"total_timeout_minutes": 2, "query_interval_seconds": 120}
    assert error_for(raw).endswith("leaves fewer than two checks in the total timeout")


def test_auto_pause_needs_zero_min_capacity() -> None:
    raw = with_change("prod", "aurora", "auto_pause_minutes", 10)
    assert error_for(raw) == (
        "environments.prod.aurora.auto_pause_minutes: needs min_capacity 0 "
        "(only a cluster at 0 ACU pauses)"
    )


def test_customer_managed_replicas_need_replica_keys() -> None:
    raw = with_change("prod", "table", "replica_regions", ["us-east-1"])
    assert error_for(raw) == (
        "environments.prod.table.replica_key_arns: needs a KMS key ARN for replica region us-east-1"
    )
    raw["prod"]["table"]["replica_key_arns"] = {
        "us-east-1": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }
    (_, prod) = load_environments(raw)
    assert prod.table.replica_regions == ("us-east-1",)


def test_missing_table_name_is_required() -> None:
    raw = environments()
    del raw["dev"]["table"]["table_name"]
    assert error_for(raw) == "environments.dev.table.table_name: is required"


def test_no_environments_at_all() -> None:
    assert error_for({}).startswith("environments: cdk.json context must define")


def test_retention_choices_match_the_cdk_mapping() -> None:
    assert set(LOG_RETENTION_DAYS) == set(_BY_DAYS)


def test_app_prints_one_line_and_exits_2_on_bad_config() -> None:
    """Through the real entry point, as `cdk synth` runs it: no traceback reaches the user."""
    result = run_app({"environments": {"dev": {"region": "eu-west-1"}}})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: invalid configuration: environments.dev.table.table_name: is required"
    )
    assert "Traceback" not in result.stderr


def test_app_exits_2_on_a_bad_role() -> None:
    context = {
        "environments": {
            "dev": {
                "region": "eu-west-1",
                "table": {"table_name": "app-data-dev"},
                "access": {"roles": [{"name": "rds_superuser", "access": "read-write"}]},
            }
        }
    }
    result = run_app(context)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: invalid configuration: environments.dev.access.roles[0].name: 'rds_superuser' is "
        "reserved (postgres, public, rds*, pg_* and the like): choose another"
    )
