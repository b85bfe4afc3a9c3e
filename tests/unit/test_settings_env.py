"""Settings.from_env: one naming rule derived from the fields, the old names as aliases, values parsed by type,
and every refusal naming the variable."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.config import Settings, specs
from engine.errors import ConfigurationError


def test_every_field_has_one_canonical_name_from_its_area_and_field():
    names = [spec.variable for spec in specs()]
    assert len(names) == len(set(names))
    assert "CAREFLOW_COMPLAINTS_DECISION_DAYS_SIMPLE" in names and "CAREFLOW_UPLOADS_MAX_BYTES" in names
    aliases = [a for spec in specs() for a in spec.aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(names)


def test_the_canonical_name_sets_the_field():
    settings = Settings.from_env({"CAREFLOW_COMPLAINTS_DECISION_DAYS_SIMPLE": "12", "CAREFLOW_SLA_WARN_SHARE": "0.5",
                                  "CAREFLOW_CORE_TIMEZONE": "Asia/Hong_Kong"})
    assert settings.complaints.decision_days_simple == 12 and settings.sla.warn_share == 0.5
    assert settings.zone.key == "Asia/Hong_Kong"
    assert Settings.from_env({}).complaints.decision_days_simple == 15


@pytest.mark.parametrize(("alias", "raw", "path", "value"), [
    ("DATABASE_URL", "postgres://db.example/cf", "database.url", "postgresql+psycopg://db.example/cf"),
    ("CAREFLOW_TIMEZONE", "Asia/Hong_Kong", "core.timezone", "Asia/Hong_Kong"),
    ("CAREFLOW_CAP_MARKETING_30D", "2", "contact.cap_marketing_per_30_days", 2),
    ("CAREFLOW_CONTACT_WINDOW", "08:30-21:00", "contact.window", ("08:30", "21:00")),
    ("CAREFLOW_REQUEST_MAX_BYTES", "1000", "inputs.request_max_bytes", 1000),
    ("CAREFLOW_SCRIPT_TIME_BUDGET", "2.5", "scripts.time_budget", 2.5),
    ("CAREFLOW_FOUR_EYES_CHANGES", "0", "security.four_eyes_changes", False),
    ("CAREFLOW_SESSION_IDLE_MINUTES", "5", "sessions.idle_minutes", 5),
    ("CAREFLOW_ATTACHMENT_DIR", "/srv/careflow/files", "uploads.dir", Path("/srv/careflow/files")),
    ("CAREFLOW_HANDLER_MODULES", "a.b:register,c.d:register", "core.handler_modules", ("a.b:register", "c.d:register")),
])
def test_the_documented_names_keep_working_as_aliases(alias, raw, path, value):
    env = {alias: raw}
    if alias == "DATABASE_URL":
        env["CAREFLOW_DATA_KEY_FILE"] = "/etc/careflow/k"
    area, name = path.split(".")
    assert getattr(getattr(Settings.from_env(env), area), name) == value


def test_every_documented_variable_is_a_name_or_an_alias():
    known = {name for spec in specs() for name in (spec.variable, *spec.aliases)}
    documented = {"DATABASE_URL", "CAREFLOW_TIMEZONE", "CAREFLOW_ALLOW_CLOCK_OVERRIDE", "CAREFLOW_SPEC_CACHE_SIZE",
                  "CAREFLOW_TIMER_BATCH_SIZE", "CAREFLOW_SCHEDULER_HEARTBEAT_SECONDS", "CAREFLOW_SCHEDULER_STALE_SECONDS",
                  "CAREFLOW_SCRIPT_TIME_BUDGET", "CAREFLOW_SCRIPT_OPERATION_BUDGET", "CAREFLOW_SCRIPT_MEMORY_MB",
                  "CAREFLOW_WORKER_MEMORY_MB", "CAREFLOW_AUTHZ_REFRESH_SECONDS", "CAREFLOW_FOUR_EYES_CHANGES",
                  "CAREFLOW_HANDLER_MODULES", "CAREFLOW_ECHO_SQL", "CAREFLOW_REPORT_PARALLELISM", "CAREFLOW_DATA_KEY",
                  "CAREFLOW_DATA_KEY_FILE", "CAREFLOW_INSTANCE_DIR", "CAREFLOW_MESSAGE_TEMPLATES", "CAREFLOW_BANK_NAME",
                  "CAREFLOW_CONTACT_WINDOW", "CAREFLOW_CAP_MARKETING_30D", "CAREFLOW_OUTBOX_MAX_ATTEMPTS",
                  "CAREFLOW_CARE_SCAN_TIME", "CAREFLOW_LEAP_DAY_BIRTHDAY", "CAREFLOW_ATTACHMENT_DIR",
                  "CAREFLOW_OTP_TTL_SECONDS", "CAREFLOW_CALENDAR_COUNTRY", "CAREFLOW_CALENDAR_FALLBACK",
                  "CAREFLOW_INTAKE_SECRETS", "CAREFLOW_SESSION_IDLE_MINUTES", "CAREFLOW_SESSION_ABSOLUTE_HOURS",
                  "CAREFLOW_TOKEN_TTL_DAYS", "CAREFLOW_LOGIN_THROTTLE_AFTER", "CAREFLOW_LOGIN_THROTTLE_IP_AFTER",
                  "CAREFLOW_LOGIN_THROTTLE_MAX_SECONDS", "CAREFLOW_SECRET_KEY", "CAREFLOW_SECRET_KEY_FILE",
                  "CAREFLOW_TRUST_FORWARDED_PROTO", "CAREFLOW_SECURE_COOKIES", "CAREFLOW_INTAKE_MAX_AGE_SECONDS",
                  "CAREFLOW_INTAKE_MAX_FUTURE_SECONDS", "CAREFLOW_JSON_MAX_DEPTH", "CAREFLOW_VARIABLES_MAX_BYTES",
                  "CAREFLOW_REQUEST_MAX_BYTES"}
    assert documented <= known, documented - known


def test_the_same_value_under_both_names_is_fine_different_values_are_an_error():
    same = Settings.from_env({"CAREFLOW_TIMEZONE": "Asia/Hong_Kong", "CAREFLOW_CORE_TIMEZONE": "Asia/Hong_Kong"})
    assert same.core.timezone == "Asia/Hong_Kong"
    with pytest.raises(ConfigurationError, match="CAREFLOW_CORE_TIMEZONE and CAREFLOW_TIMEZONE are both set"):
        Settings.from_env({"CAREFLOW_TIMEZONE": "Asia/Hong_Kong", "CAREFLOW_CORE_TIMEZONE": "Asia/Shanghai"})


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("true", True), ("Yes", True), ("on", True),
                                            ("0", False), ("false", False), ("NO", False), ("off", False)])
def test_flags(raw, value):
    assert Settings.from_env({"CAREFLOW_SESSIONS_SECURE_COOKIES": raw}).sessions.secure_cookies is value


def test_an_empty_variable_counts_as_unset():
    assert Settings.from_env({"CAREFLOW_SESSIONS_SECURE_COOKIES": "", "CAREFLOW_TIMEZONE": ""}) == Settings.from_env({})


@pytest.mark.parametrize(("name", "raw", "expected"), [
    ("CAREFLOW_SESSIONS_SECURE_COOKIES", "maybe", "CAREFLOW_SESSIONS_SECURE_COOKIES must be 1/0"),
    ("CAREFLOW_OUTBOX_MAX_ATTEMPTS", "six", "CAREFLOW_OUTBOX_MAX_ATTEMPTS must be an integer, got 'six'"),
    ("CAREFLOW_OUTBOX_MAX_ATTEMPTS", "0", "CAREFLOW_OUTBOX_MAX_ATTEMPTS must be positive"),
    ("CAREFLOW_SLA_WARN_SHARE", "most", "CAREFLOW_SLA_WARN_SHARE must be a number"),
    ("CAREFLOW_SESSION_IDLE_MINUTES", "-5", "CAREFLOW_SESSIONS_IDLE_MINUTES must be positive"),
    ("CAREFLOW_CORE_WORKER_MEMORY_MB", "-1", "CAREFLOW_CORE_WORKER_MEMORY_MB must be 0 or more"),
    ("CAREFLOW_CONTACT_WINDOW", "20:00-09:00", "CAREFLOW_CONTACT_WINDOW: must look like 09:00-20:00"),
    ("CAREFLOW_CARE_SCAN_TIME", "nine", "CAREFLOW_CARE_SCAN_TIME: 'nine' is not a time of day"),
    ("CAREFLOW_TIERING_FLOORS", "gold=50000", "CAREFLOW_TIERING_FLOORS must be list of text:an integer"),
    ("CAREFLOW_INTAKE_SECRETS", "wechat:short", "CAREFLOW_INTAKE_SECRETS: must look like wechat:"),
])
def test_a_bad_value_names_the_variable_and_the_expected_form(name, raw, expected):
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({name: raw})
    assert expected in refused.value.message


def test_zero_is_allowed_where_it_means_none():
    assert Settings.from_env({"CAREFLOW_WORKER_MEMORY_MB": "0"}).core.worker_memory_mb == 0


def test_lists_pairs_and_optional_values():
    settings = Settings.from_env({
        "CAREFLOW_TIERING_FLOORS": "gold:60000, platinum:250000",
        "CAREFLOW_TIERING_AUM_WEIGHTS": "loan:0,card:0.5",
        "CAREFLOW_TIERING_MANAGER_GROUPS": "1000000:wealth,0:everyone",
        "CAREFLOW_SALES_SECOND_CHECK_AGE": "none",
        "CAREFLOW_INTAKE_SECRETS": "wechat:" + "s" * 16,
    })
    assert settings.tiering.floors == (("gold", 60_000), ("platinum", 250_000))
    assert settings.tiering.aum_weights == (("loan", 0.0), ("card", 0.5))
    assert settings.tiering.manager_groups == ((1_000_000, "wealth"), (0, "everyone"))
    assert settings.sales.second_check_age is None
    assert Settings.from_env({"CAREFLOW_SALES_SECOND_CHECK_AGE": "75"}).sales.second_check_age == 75
    assert "s" * 16 not in repr(settings)


def test_an_unknown_careflow_variable_is_logged_with_the_closest_names(caplog):
    with caplog.at_level(logging.WARNING, logger="engine.config"):
        Settings.from_env({"CAREFLOW_COMPLAINTS_DECISION_DAY_SIMPLE": "10", "CAREFLOW_SMTP_URL": "smtp://x",
                           "CAREFLOW_BENCH_SECONDS": "1", "CAREFLOW_TEST_POSTGRES_URL": "postgresql://x"})
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1, warned
    assert "CAREFLOW_COMPLAINTS_DECISION_DAY_SIMPLE is not a CareFlow setting" in warned[0]
    assert "did you mean CAREFLOW_COMPLAINTS_DECISION_DAYS_SIMPLE" in warned[0]


def test_paths_follow_the_instance_folder_unless_set(tmp_path):
    settings = Settings.from_env({"CAREFLOW_CORE_INSTANCE_DIR": str(tmp_path / "inst")})
    assert settings.privacy.data_key_file == tmp_path / "inst" / "data.key"
    assert settings.uploads.dir == tmp_path / "inst" / "attachments"
    own = Settings.from_env({"CAREFLOW_CORE_INSTANCE_DIR": str(tmp_path), "CAREFLOW_UPLOADS_DIR": str(tmp_path / "f")})
    assert own.uploads.dir == tmp_path / "f"


def test_a_postgresql_database_needs_a_key_setting_under_either_name():
    with pytest.raises(ConfigurationError, match="CAREFLOW_PRIVACY_DATA_KEY_FILE"):
        Settings.from_env({"CAREFLOW_DATABASE_URL": "postgresql://db.example/careflow"})
    url = "postgresql+psycopg://db.example/careflow"
    assert Settings.from_env({"CAREFLOW_DATABASE_URL": "postgresql://db.example/careflow",
                              "CAREFLOW_PRIVACY_DATA_KEY_FILE": "/k"}).database.url == url
