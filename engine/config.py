"""Engine settings, parsed once from the environment and then frozen.

Nothing else in the engine reads ``os.environ``: build a :class:`Settings` with
:meth:`Settings.from_env` at start-up and pass it on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.bpmn.limits import Limits
from engine.errors import ConfigurationError
from engine.inputs import InputLimits
from engine.rules.calendar import FALLBACKS, known_countries

if TYPE_CHECKING:
    from engine.privacy import Keyring

DEFAULT_DB_PATH = Path("instance") / "careflow.db"
DEFAULT_KEY_FILE = Path("instance") / "data.key"
# Plug-ins loaded by default: the outbound channels configured in the environment.
DEFAULT_PLUGINS = "integrations.channels:register"
# Message templates ship with the integrations; the engine only reads the file.
DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "integrations" / "templates" / "messages.json"


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    timezone: str = "Asia/Shanghai"
    allow_clock_override: bool = False
    spec_cache_size: int = 64
    timer_batch_size: int = 200
    # Scheduler supervision (engine.scheduler, engine.services.scheduler_health): each scheduler process writes a
    # heartbeat row per job this often; a job none of whose rows is younger than the stale limit has stopped (the
    # supervisor desk shows a banner, /healthz says "degraded", an error is logged).
    scheduler_heartbeat_seconds: float = 10.0
    scheduler_stale_seconds: float = 300.0
    # User code (scripts, conditions, expressions, DMN cells) per workflow step (engine.bpmn.limits): wall time,
    # traced operations, and growth of the process's memory while it runs.
    script_time_budget: float = 1.0
    script_operation_budget: int = 5_000_000
    script_memory_mb: int = 256
    # A ceiling on each server and scheduler process's heap (RLIMIT_DATA), the backstop under the per-step limits;
    # 0: none. Size it to the machine: workers × this must fit in memory with the database beside them.
    worker_memory_mb: int = 0
    # Maker-checker on changes to live work: a new version of a process with live instances, a migration, a grant, a
    # privileged role, an administrator's own token wait for a second person (engine.services.approvals).
    four_eyes_changes: bool = True
    # Grants are kept in memory per process and read again after this many seconds (engine.authz.grants).
    authz_refresh_seconds: float = 10.0
    # Dotted paths ("package.module:attr") of modules that register service-task handlers.
    handler_modules: tuple[str, ...] = field(default_factory=tuple)
    echo_sql: bool = False
    # PostgreSQL connections per process (SQLAlchemy's pool): kept open, and the extra ones opened at peaks. Every web
    # worker and scheduler holds its own pool: nodes × workers × (pool + overflow) + schedulers × the same must stay
    # under the server's max_connections (README, "Running several nodes").
    db_pool_size: int = 10
    db_max_overflow: int = 20
    # Operations (web.metrics, web.logsafe): the bearer token a Prometheus scraper sends to /metrics (unset: only
    # this machine may scrape), and the log format of the app's and the scheduler's own lines ("text" or "json",
    # one JSON object per line with the request id).
    metrics_token: str | None = field(default=None, repr=False)
    log_format: str = "text"
    # Report pages: independent KPI queries run on up to this many connections at once (engine.reporting.gather);
    # 1: one after another in one transaction.
    report_parallelism: int = 4
    # Tests only: Argon2's cheapest parameters, so fixtures that create users stay fast.
    cheap_password_hashing: bool = False
    # Personal data keys (engine.privacy.Keyring): CAREFLOW_DATA_KEY (one key, 32 bytes URL-safe base64, from a secret
    # store; no rotation) or the keyring file CAREFLOW_DATA_KEY_FILE (created on first use; ``careflow keys rotate``
    # adds keys to it). Default file: beside an SQLite database; a PostgreSQL database needs one of the two set.
    data_key: str | None = field(default=None, repr=False)
    data_key_file: Path = DEFAULT_KEY_FILE  # used (and created) only when data_key is not set
    # The instance folder (CAREFLOW_INSTANCE_DIR): the SQLite database's folder unless set; the default home of the
    # key file and of the attachment store, so neither follows the working directory.
    instance_dir: Path = DEFAULT_DB_PATH.parent
    message_templates: Path = DEFAULT_TEMPLATES
    bank_name: str = "CareFlow银行"
    # Contact rules (docs/domain.md §0, §3.5): bank-local window, caps per customer, quiet Spring Festival days.
    contact_window: tuple[str, str] = ("09:00", "20:00")
    cap_service_per_day: int = 3
    cap_marketing_per_day: int = 1
    cap_marketing_per_30_days: int = 4
    marketing_quiet_spring_festival: bool = True
    # Outbox delivery: attempts before the dead letter, exponential backoff from the base, claim lease.
    outbox_max_attempts: int = 6
    outbox_backoff_seconds: int = 30
    outbox_backoff_max_seconds: int = 3600
    outbox_lease_seconds: int = 300
    outbox_batch_size: int = 100
    # Care (docs/domain.md §5): daily scan time (bank-local), 29-Feb birthdays, Double Ninth age.
    care_scan_time: str = "09:00"
    leap_day_birthday: str = "feb28"
    elderly_age: int = 60
    care_batch_size: int = 200
    # SLA (issue 3): warning at this share of the time to due.
    sla_warn_share: float = 0.8
    # Business calendar (engine.rules.calendar): the country's working days (CN: chinese_calendar with the 调休 swaps;
    # another code: the holidays library), plus the bank's own table (careflow calendar import, re-read every
    # calendar_refresh_seconds). A Chinese year no library knows is estimated from the statutory holidays with a
    # warning ("estimate") or fails the step ("error").
    calendar_country: str = "CN"
    calendar_fallback: str = "estimate"
    calendar_refresh_seconds: float = 30.0
    # Attachments: files outside the database rows, content-addressed; size and type limits.
    attachment_dir: Path = DEFAULT_DB_PATH.parent / "attachments"  # CAREFLOW_ATTACHMENT_DIR, else <instance>/attachments
    attachment_max_bytes: int = 10 * 1024 * 1024
    # Complaints (docs/domain.md §0, §1.4–§1.7; engine.complaints.deadlines): calendar days from receipt, receipt day not
    # counted; the warning day; review window and review decision; acknowledgement target; major group size.
    complaint_decision_days_simple: int = 15
    complaint_decision_days_complex: int = 30
    complaint_decision_days_special_max: int = 60
    complaint_review_apply_window_days: int = 30
    complaint_review_decision_days: int = 30
    complaint_ack_target_workdays: int = 1
    complaint_warn_day: int = 10
    complaint_major_group_threshold: int = 20
    complaint_pause_for_external_appraisal: bool = True  # outside appraisal time is not counted (§1.4)
    complaint_group_face_to_face_max_reps: int = 5  # a face-to-face group elects at most 5 (§1.3; desk form)
    complaint_classification: str = "JR/T 0169-2018"  # the code tables of engine.complaints.codes (§1.7)
    # Suitability and cross-sell (docs/domain.md §2.2–§2.7; questionnaire validity is with onboarding's settings below):
    # elderly ages (周岁), high risk from R4, a second staff check from 70 (bank practice; None switches it off),
    # cooling-off floors, maturity leads N days ahead.
    suitability_elderly_special_care_age: int = 65
    elderly_definition_age: int = 60
    suitability_high_risk_from: int = 4
    suitability_second_check_age: int | None = 70
    cooling_off_private_wmp_hours: int = 24
    cooling_off_insurance_days: int = 15
    cross_sell_maturity_days: int = 30
    # Tiering (docs/domain.md §4.2, engine.onboarding.tiering): AUM floors in CNY (the customer_tier DMN holds the same),
    # weights per account kind (others count 1, loans 0), months below a floor before a downgrade (快升缓降).
    tier_floors: tuple[tuple[str, int], ...] = (("gold", 50_000), ("platinum", 200_000), ("diamond", 1_000_000),
                                                ("private", 6_000_000))
    aum_weights: tuple[tuple[str, float], ...] = (("loan", 0.0), ("card", 0.0))
    tier_downgrade_months: int = 3
    # Onboarding (docs/domain.md §4.3): the customer manager's group by AUM floor, highest first.
    manager_groups: tuple[tuple[int, str], ...] = ((2_000_000, "wealth_centre_managers"),
                                                   (200_000, "branch_wealth_managers"),
                                                   (100_000, "branch_lobby_managers"), (0, "customer_managers"))
    # Suitability levels and matching (docs/domain.md §2.2): C1–C5 and R1–R5; allowed when R ≤ C, the higher of the issuer's
    # and the seller's ratings counts (孰高). engine.sales.suitability and the product_suitability DMN encode the rule.
    suitability_levels: int = 5
    suitability_match: str = "product_level<=customer_level;higher_rating"
    # Evidence and record keeping (docs/domain.md §2.5, §3.4): how long each kind must be kept at least.
    double_recording_retention_months_after_end: int = 6
    retention_aml_kyc_years: int = 10
    retention_network_logs_months: int = 6
    retention_pipia_years: int = 3
    # History time-to-live (engine.services.retention): ended instances are archived this many days after they ended
    # (state, form data, comments and attachments dropped; the summary row and the audit chain kept), per process
    # where the rules differ; legal holds, open complaints and the AML years keep them longer.
    retention_history_days: int = 1825  # complaint files: the 2019 draft's ≥ 5 years (docs/domain.md §3.4)
    retention_history_by_process: tuple[tuple[str, int], ...] = (
        ("birthday_care", 180), ("holiday_care", 180),  # a greeting's purpose ends when it is sent (PIPL Arts. 19, 47)
        ("periodic_revisit", 1095),  # processing records ≥ 3 years (PIPL Art. 56)
        ("customer_onboarding", 3650), ("cross_sell_followup", 3650),  # KYC and transactions: 10 years (AML)
    )
    # Processes whose records are AML records: kept while the customer relationship lasts and retention_aml_kyc_years
    # after it ended, whatever their time-to-live.
    retention_aml_processes: tuple[str, ...] = ("customer_onboarding", "cross_sell_followup")
    # Marketing (docs/domain.md §3.5): opt-in needed for marketing (the outbox policy), opt-out immediate on every channel
    # (checked at send time), at most one marketing contact per number a day (cap_marketing_per_day above).
    marketing_requires_opt_in: bool = True
    holidays_source: str = "chinese_calendar"  # official 调休 data (engine.rules.calendar); lunar dates: lunardate
    # Suitability (docs/domain.md §2.3): questionnaire validity, and how long before expiry the re-assessment starts.
    suitability_assessment_valid_months: int = 12
    risk_reassess_days_before: int = 30
    # Prediction (engine.services.prediction): scores at or above these start a retention revisit or a cross-sell lead
    # (suitability still decides every lead); at most this many of each per run; "bank" history or "synthetic".
    prediction_churn_threshold: float = 0.4
    prediction_propensity_threshold: float = 0.5
    prediction_max_actions_per_run: int = 50
    prediction_training_source: str = "bank"
    # Customer portal (engine.services.portal): one-time sign-in codes and their limits.
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    # Sign-in (engine.services.sessions, engine.services.throttle): server-side sessions end after this long without
    # a request, and at the latest this long after sign-in; a portal (customer) session at most portal_session_minutes.
    session_idle_minutes: int = 15
    session_absolute_hours: int = 12
    portal_session_minutes: int = 30
    # API tokens expire this many days after they are made.
    token_ttl_days: int = 90
    # Wrong passwords: after this many for one account (or from one address), each further one makes the next try
    # wait twice as long as the last, up to login_throttle_max_seconds; no lock, an administrator can clear it.
    login_throttle_after: int = 5
    login_throttle_ip_after: int = 20
    login_throttle_max_seconds: int = 900
    # The key that signs session cookies: the same on every node. Unset: made once into secret_key_file (by default
    # next to an SQLite database, else in the instance folder) and read from there at every start.
    secret_key: str | None = field(default=None, repr=False)
    secret_key_file: Path | None = None
    # Behind a TLS-terminating proxy: believe its X-Forwarded-Proto (HSTS and Secure cookies over https) and the last
    # X-Forwarded-For entry as the caller's address (login and portal throttling).
    trust_forwarded_proto: bool = False
    # Secure cookies on every answer, even one over plain http (they are Secure over https anyway).
    secure_cookies: bool = False
    # Channel intake (POST /api/v1/complaints): HMAC secret per channel, from CAREFLOW_INTAKE_SECRETS="wechat:…,mobile_app:…".
    intake_secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # Signed intake (web.api.complaints): how far a request's timestamp may lie behind or ahead of the server's clock.
    # A request is accepted once: its signature is kept (engine.services.intake_keys) for the whole window.
    intake_max_age_seconds: int = 60
    intake_max_future_seconds: int = 30
    # Values from outside (engine.inputs): JSON nesting and size for variables, form data and message payloads, and
    # the largest request body the web app reads (Flask's MAX_CONTENT_LENGTH; 413 above it).
    json_max_depth: int = 64
    variables_max_bytes: int = 1024 * 1024
    request_max_bytes: int = 5 * 1024 * 1024

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def script_limits(self) -> Limits:
        return Limits(seconds=self.script_time_budget, operations=self.script_operation_budget,
                      memory_mb=self.script_memory_mb)

    @property
    def input_limits(self) -> InputLimits:
        return InputLimits(max_depth=self.json_max_depth, max_bytes=self.variables_max_bytes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secret_key_path(self) -> Path:
        """Where the embedded setup keeps its cookie-signing key: the setting, else beside the SQLite file, else in
        the instance folder."""
        if self.secret_key_file is not None:
            return self.secret_key_file
        database = self.database_url.split("///", 1)[1] if self.is_sqlite and "///" in self.database_url else ""
        if database and database != ":memory:":
            return Path(database).parent / "secret.key"
        return self.instance_dir / "secret.key"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = normalize_database_url(env.get("DATABASE_URL") or cls.database_url)
        instance = instance_folder(url, env.get("CAREFLOW_INSTANCE_DIR"))
        data_key = env.get("CAREFLOW_DATA_KEY") or None
        if not url.startswith("sqlite") and not data_key and not env.get("CAREFLOW_DATA_KEY_FILE"):
            raise ConfigurationError("a PostgreSQL DATABASE_URL needs CAREFLOW_DATA_KEY_FILE (the keyring file, kept "
                                     "outside the database server's folders) or CAREFLOW_DATA_KEY; CareFlow does not "
                                     "create a data key on its own beside a remote database")
        settings = cls(
            database_url=url, instance_dir=instance,
            timezone=env.get("CAREFLOW_TIMEZONE", cls.timezone),
            allow_clock_override=env.get("CAREFLOW_ALLOW_CLOCK_OVERRIDE", "") == "1",
            spec_cache_size=_int(env, "CAREFLOW_SPEC_CACHE_SIZE", cls.spec_cache_size),
            timer_batch_size=_int(env, "CAREFLOW_TIMER_BATCH_SIZE", cls.timer_batch_size),
            scheduler_heartbeat_seconds=_float(env, "CAREFLOW_SCHEDULER_HEARTBEAT_SECONDS",
                                               cls.scheduler_heartbeat_seconds),
            scheduler_stale_seconds=_float(env, "CAREFLOW_SCHEDULER_STALE_SECONDS", cls.scheduler_stale_seconds),
            script_time_budget=_float(env, "CAREFLOW_SCRIPT_TIME_BUDGET", cls.script_time_budget),
            script_operation_budget=_int(env, "CAREFLOW_SCRIPT_OPERATION_BUDGET", cls.script_operation_budget),
            script_memory_mb=_int(env, "CAREFLOW_SCRIPT_MEMORY_MB", cls.script_memory_mb),
            worker_memory_mb=int(env.get("CAREFLOW_WORKER_MEMORY_MB") or 0),
            authz_refresh_seconds=_float(env, "CAREFLOW_AUTHZ_REFRESH_SECONDS", cls.authz_refresh_seconds),
            four_eyes_changes=env.get("CAREFLOW_FOUR_EYES_CHANGES", "1") != "0",
            handler_modules=tuple(m for m in env.get("CAREFLOW_HANDLER_MODULES", DEFAULT_PLUGINS).split(",") if m),
            echo_sql=env.get("CAREFLOW_ECHO_SQL", "") == "1",
            db_pool_size=_int(env, "CAREFLOW_DB_POOL_SIZE", cls.db_pool_size),
            db_max_overflow=_int(env, "CAREFLOW_DB_MAX_OVERFLOW", cls.db_max_overflow),
            metrics_token=env.get("CAREFLOW_METRICS_TOKEN") or None,
            log_format=env.get("CAREFLOW_LOG_FORMAT", cls.log_format),
            report_parallelism=_int(env, "CAREFLOW_REPORT_PARALLELISM", cls.report_parallelism),
            data_key=data_key,
            data_key_file=Path(env.get("CAREFLOW_DATA_KEY_FILE") or instance / "data.key"),
            message_templates=Path(env.get("CAREFLOW_MESSAGE_TEMPLATES", DEFAULT_TEMPLATES)),
            bank_name=env.get("CAREFLOW_BANK_NAME", cls.bank_name),
            contact_window=_window(env.get("CAREFLOW_CONTACT_WINDOW", "09:00-20:00")),
            cap_marketing_per_30_days=_int(env, "CAREFLOW_CAP_MARKETING_30D", cls.cap_marketing_per_30_days),
            outbox_max_attempts=_int(env, "CAREFLOW_OUTBOX_MAX_ATTEMPTS", cls.outbox_max_attempts),
            care_scan_time=env.get("CAREFLOW_CARE_SCAN_TIME", cls.care_scan_time),
            leap_day_birthday=env.get("CAREFLOW_LEAP_DAY_BIRTHDAY", cls.leap_day_birthday),
            attachment_dir=Path(env.get("CAREFLOW_ATTACHMENT_DIR") or instance / "attachments").absolute(),
            otp_ttl_seconds=_int(env, "CAREFLOW_OTP_TTL_SECONDS", cls.otp_ttl_seconds),
            calendar_country=env.get("CAREFLOW_CALENDAR_COUNTRY", cls.calendar_country).upper(),
            calendar_fallback=env.get("CAREFLOW_CALENDAR_FALLBACK", cls.calendar_fallback),
            intake_secrets=_secrets(env.get("CAREFLOW_INTAKE_SECRETS", "")),
            session_idle_minutes=_int(env, "CAREFLOW_SESSION_IDLE_MINUTES", cls.session_idle_minutes),
            session_absolute_hours=_int(env, "CAREFLOW_SESSION_ABSOLUTE_HOURS", cls.session_absolute_hours),
            token_ttl_days=_int(env, "CAREFLOW_TOKEN_TTL_DAYS", cls.token_ttl_days),
            login_throttle_after=_int(env, "CAREFLOW_LOGIN_THROTTLE_AFTER", cls.login_throttle_after),
            login_throttle_ip_after=_int(env, "CAREFLOW_LOGIN_THROTTLE_IP_AFTER", cls.login_throttle_ip_after),
            login_throttle_max_seconds=_int(env, "CAREFLOW_LOGIN_THROTTLE_MAX_SECONDS", cls.login_throttle_max_seconds),
            secret_key=env.get("CAREFLOW_SECRET_KEY") or None,
            secret_key_file=Path(env["CAREFLOW_SECRET_KEY_FILE"]) if env.get("CAREFLOW_SECRET_KEY_FILE") else None,
            trust_forwarded_proto=env.get("CAREFLOW_TRUST_FORWARDED_PROTO", "") == "1",
            secure_cookies=env.get("CAREFLOW_SECURE_COOKIES", "") == "1",
            intake_max_age_seconds=_int(env, "CAREFLOW_INTAKE_MAX_AGE_SECONDS", cls.intake_max_age_seconds),
            intake_max_future_seconds=_int(env, "CAREFLOW_INTAKE_MAX_FUTURE_SECONDS", cls.intake_max_future_seconds),
            json_max_depth=_int(env, "CAREFLOW_JSON_MAX_DEPTH", cls.json_max_depth),
            variables_max_bytes=_int(env, "CAREFLOW_VARIABLES_MAX_BYTES", cls.variables_max_bytes),
            request_max_bytes=_int(env, "CAREFLOW_REQUEST_MAX_BYTES", cls.request_max_bytes),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(f"unknown time zone {self.timezone!r}") from exc
        if not (self.is_sqlite or self.database_url.startswith("postgresql")):
            raise ConfigurationError("DATABASE_URL must be an sqlite:// or postgresql:// URL")
        if self.leap_day_birthday not in ("feb28", "mar1"):
            raise ConfigurationError("CAREFLOW_LEAP_DAY_BIRTHDAY must be feb28 or mar1")
        if self.log_format not in ("text", "json"):
            raise ConfigurationError("CAREFLOW_LOG_FORMAT must be text or json")
        if self.calendar_fallback not in FALLBACKS:
            raise ConfigurationError(f"CAREFLOW_CALENDAR_FALLBACK must be one of {', '.join(FALLBACKS)}")
        if self.calendar_country != "CN" and self.calendar_country not in known_countries():
            raise ConfigurationError(f"CAREFLOW_CALENDAR_COUNTRY {self.calendar_country!r} is not a country code the "
                                     "holidays library knows")
        if not self.scheduler_heartbeat_seconds * 2 <= self.scheduler_stale_seconds:
            raise ConfigurationError("CAREFLOW_SCHEDULER_STALE_SECONDS must be at least twice "
                                     "CAREFLOW_SCHEDULER_HEARTBEAT_SECONDS, or healthy jobs look stopped")
        for value in (*self.contact_window, self.care_scan_time):
            _clock_time(value)


def normalize_database_url(url: str) -> str:
    """Accept the usual ``postgres://``/``postgresql://`` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def instance_folder(url: str, explicit: str | None) -> Path:
    """The instance folder as an absolute path: the setting, else the folder of an SQLite database file, else
    ``instance`` under the directory CareFlow started in (resolved once, so a later ``chdir`` moves nothing)."""
    if explicit:
        return Path(explicit).absolute()
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        return Path(url[len("sqlite:///"):].split("?", 1)[0]).absolute().parent
    return DEFAULT_DB_PATH.parent.absolute()


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc
    if not value > 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def _clock_time(value: str) -> tuple[int, int]:
    try:
        hours, minutes = (int(part) for part in value.split(":"))
    except ValueError as exc:
        raise ConfigurationError(f"{value!r} is not a time of day like 09:00") from exc
    if not (0 <= hours <= 24 and 0 <= minutes < 60):
        raise ConfigurationError(f"{value!r} is not a time of day like 09:00")
    return hours, minutes


def _window(raw: str) -> tuple[str, str]:
    start, sep, end = raw.partition("-")
    if not sep or _clock_time(start) >= _clock_time(end):
        raise ConfigurationError(f"CAREFLOW_CONTACT_WINDOW must look like 09:00-20:00, got {raw!r}")
    return start.strip(), end.strip()


def _secrets(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        name, sep, secret = item.partition(":")
        if not sep or not name.strip() or len(secret.strip()) < 16:
            raise ConfigurationError("CAREFLOW_INTAKE_SECRETS must look like wechat:<secret of 16+ characters>,mobile_app:…")
        pairs.append((name.strip(), secret.strip()))
    return tuple(pairs)


def load_keyring(settings: Settings) -> Keyring:
    """The data keys: ``CAREFLOW_DATA_KEY`` as a ring of one, else the keyring file, created on first use (mode
    0600, a ring of one fresh key).

    Losing the file makes the encrypted personal data unreadable, so it is never overwritten except by
    ``careflow keys rotate``, which only adds keys.
    """
    from engine.privacy import Keyring, new_data_key

    if settings.data_key:
        return Keyring.single(settings.data_key)
    path = settings.data_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Keyring.single(new_data_key()).dump())
    return Keyring.load(path)


def secret_from_file(path: Path) -> str:
    """The cookie-signing key kept in ``path``, made on first use (mode 0600) and never again.

    Every worker of every start reads the same key, so a restart signs nobody out. Made in a temporary file and
    hard-linked into place, so two workers starting at once never read a half-written key: the second link fails
    and that worker reads the first one's key.
    """
    import secrets

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()
