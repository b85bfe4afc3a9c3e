"""Engine settings, parsed once from the environment and then frozen.

Nothing else in the engine reads ``os.environ``: build a :class:`Settings` with :meth:`Settings.from_env` at
start-up and pass it on. The settings are grouped by area (``settings.complaints.decision_days_simple``); every
field carries its meaning, and its environment variable follows one rule (docs/decisions.md §21):

    CAREFLOW_<AREA>_<FIELD>, upper case       e.g. CAREFLOW_COMPLAINTS_DECISION_DAYS_SIMPLE=15

The names documented before the areas existed (``DATABASE_URL``, ``CAREFLOW_TIMEZONE``, ``CAREFLOW_DATA_KEY`` …)
are aliases of the field they always set. A variable set under both names with different values is an error;
a ``CAREFLOW_`` variable that is no setting is logged with the closest names. README.md's settings table is made
from these fields by ``python -m scripts.settings_table --write``.
"""

from __future__ import annotations

import difflib
import logging
import os
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.bpmn.limits import Limits
from engine.errors import ConfigurationError
from engine.inputs import InputLimits
from engine.rules.calendar import FALLBACKS, known_countries

if TYPE_CHECKING:
    from engine.privacy import Keyring

log = logging.getLogger(__name__)

DEFAULT_DB_PATH = Path("instance") / "careflow.db"
DEFAULT_KEY_FILE = Path("instance") / "data.key"
# Plug-ins loaded by default: the outbound channels configured in the environment.
DEFAULT_PLUGINS = "integrations.channels:register"
# Message templates ship with the integrations; the engine only reads the file.
DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "integrations" / "templates" / "messages.json"
PREFIX = "CAREFLOW_"
MIB = 1024 * 1024
# CAREFLOW_ variables read elsewhere (the channels in integrations/, the web's language, the Makefile, tests and
# benches): not settings, and no reason to warn.
READ_ELSEWHERE = frozenset({
    "CAREFLOW_SMTP_URL", "CAREFLOW_SMS_GATEWAY_URL", "CAREFLOW_SMS_GATEWAY_SECRET", "CAREFLOW_WECHAT_APPID",
    "CAREFLOW_WECHAT_SECRET", "CAREFLOW_WECHAT_API_URL", "CAREFLOW_CHANNEL_SANDBOX", "CAREFLOW_DEV_MAILBOX",
    "CAREFLOW_DEFAULT_LANGUAGE", "CAREFLOW_DEMO_DB",
})
READ_ELSEWHERE_PREFIXES = ("CAREFLOW_TEST_", "CAREFLOW_BENCH_", "CAREFLOW_FUZZ_")

T = TypeVar("T")


def setting(default: T, doc: str, *, aliases: tuple[str, ...] = (), parse: Callable[[str], Any] | None = None,
            positive: bool = True, secret: bool = False, shown_default: str | None = None,
            env_default: Any = None, form: str | None = None) -> T:
    """A settings field with its meaning (``doc``, one line in README's table) and how the environment sets it.

    ``aliases``: older variable names that still set it. ``parse``: the field's own parser of the raw text (else
    the one its type implies). ``positive``: a number must be greater than 0 (else 0 or more). ``shown_default``: the
    default as the table prints it, where the value depends on the machine or on another setting.
    ``env_default``: the value ``from_env`` uses when nothing is set, where it differs from the dataclass default.
    ``form``: how the value is written, where a parser of its own reads it (else the type says it).
    """
    metadata = {"doc": doc, "aliases": aliases, "parse": parse, "positive": positive, "shown_default": shown_default,
                "env_default": env_default, "form": form}
    return cast(T, field(default=default, repr=not secret, metadata=metadata))


# --- parsers with their own syntax -----------------------------------------------------------------------------------


def normalize_database_url(url: str) -> str:
    """Accept the usual ``postgres://``/``postgresql://`` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def instance_folder(url: str, explicit: str | Path | None) -> Path:
    """The instance folder as an absolute path: the setting, else the folder of an SQLite database file, else
    ``instance`` under the directory CareFlow started in (resolved once, so a later ``chdir`` moves nothing)."""
    if explicit:
        return Path(explicit).absolute()
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        return Path(url[len("sqlite:///"):].split("?", 1)[0]).absolute().parent
    return DEFAULT_DB_PATH.parent.absolute()


def _clock_time(value: str) -> tuple[int, int]:
    try:
        hours, minutes = (int(part) for part in value.split(":"))
    except ValueError as exc:
        raise ConfigurationError(f"{value!r} is not a time of day like 09:00") from exc
    if not (0 <= hours <= 24 and 0 <= minutes < 60):
        raise ConfigurationError(f"{value!r} is not a time of day like 09:00")
    return hours, minutes


def _time_of_day(raw: str) -> str:
    _clock_time(raw.strip())
    return raw.strip()


def _window(raw: str) -> tuple[str, str]:
    start, sep, end = raw.partition("-")
    if not sep or _clock_time(start) >= _clock_time(end):
        raise ConfigurationError(f"must look like 09:00-20:00, got {raw!r}")
    return start.strip(), end.strip()


def _secrets(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        name, sep, secret = item.partition(":")
        if not sep or not name.strip() or len(secret.strip()) < 16:
            raise ConfigurationError("must look like wechat:<secret of 16+ characters>,mobile_app:…")
        pairs.append((name.strip(), secret.strip()))
    return tuple(pairs)


def _upper(raw: str) -> str:
    return raw.strip().upper()


def _absolute(raw: str) -> Path:
    return Path(raw).absolute()


# --- the areas -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = setting(f"sqlite:///{DEFAULT_DB_PATH}", "SQLAlchemy URL: sqlite:///<file> or postgresql://… "
                       "(a PostgreSQL database needs CAREFLOW_PRIVACY_DATA_KEY_FILE or CAREFLOW_PRIVACY_DATA_KEY)",
                       aliases=("DATABASE_URL",), parse=normalize_database_url)
    echo_sql: bool = setting(False, "Log every SQL statement (debugging)", aliases=("CAREFLOW_ECHO_SQL",))
    pool_size: int = setting(10, "PostgreSQL connections each process keeps open; (nodes × workers + schedulers) × "
                             "(pool + overflow) must stay under max_connections", aliases=("CAREFLOW_DB_POOL_SIZE",))
    max_overflow: int = setting(20, "PostgreSQL connections each process may open beyond the pool at peaks",
                                aliases=("CAREFLOW_DB_MAX_OVERFLOW",), positive=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True)
class CoreSettings:
    timezone: str = setting("Asia/Shanghai", "The bank's time zone: local days, deadlines, contact hours",
                            aliases=("CAREFLOW_TIMEZONE",))
    instance_dir: Path = setting(DEFAULT_DB_PATH.parent, "The instance folder: default home of the key file, the "
                                 "cookie key and the uploads", aliases=("CAREFLOW_INSTANCE_DIR",), parse=_absolute,
                                 shown_default="the SQLite database's folder, else `./instance`")
    bank_name: str = setting("CareFlow银行", "The bank's name in messages and pages", aliases=("CAREFLOW_BANK_NAME",))
    allow_clock_override: bool = setting(False, "Let `careflow … --now` set the time (tests, drills; never in "
                                         "production)", aliases=("CAREFLOW_ALLOW_CLOCK_OVERRIDE",))
    handler_modules: tuple[str, ...] = setting((), "Modules (package.module:attr) that register service-task handlers",
                                               aliases=("CAREFLOW_HANDLER_MODULES",), env_default=(DEFAULT_PLUGINS,))
    spec_cache_size: int = setting(64, "Parsed process versions kept in memory per process",
                                   aliases=("CAREFLOW_SPEC_CACHE_SIZE",))
    worker_memory_mb: int = setting(0, "Heap ceiling (RLIMIT_DATA) of each server and scheduler process, MB; 0: none. "
                                    "Workers × this must fit beside the database", aliases=("CAREFLOW_WORKER_MEMORY_MB",),
                                    positive=False)
    report_parallelism: int = setting(4, "Report pages run independent KPI queries on up to this many connections; "
                                      "1: one after another", aliases=("CAREFLOW_REPORT_PARALLELISM",))
    metrics_token: str | None = setting(None, "Bearer token a Prometheus scraper sends to /metrics; unset: only this "
                                        "machine may scrape", aliases=("CAREFLOW_METRICS_TOKEN",), secret=True)
    log_format: str = setting("text", "The app's and the scheduler's log lines: text, or json (one object per line "
                              "with the request id)", aliases=("CAREFLOW_LOG_FORMAT",))


@dataclass(frozen=True)
class SchedulerSettings:
    timer_batch_size: int = setting(200, "Due timers fired per transaction", aliases=("CAREFLOW_TIMER_BATCH_SIZE",))
    heartbeat_seconds: float = setting(10.0, "Each scheduler job writes its heartbeat row this often",
                                       aliases=("CAREFLOW_SCHEDULER_HEARTBEAT_SECONDS",))
    stale_seconds: float = setting(300.0, "A job with no heartbeat younger than this has stopped (banner, /healthz "
                                   "degraded); at least twice the heartbeat",
                                   aliases=("CAREFLOW_SCHEDULER_STALE_SECONDS",))


@dataclass(frozen=True)
class ScriptSettings:
    time_budget: float = setting(1.0, "Wall time of user code (scripts, conditions, DMN cells) per workflow step, s",
                                 aliases=("CAREFLOW_SCRIPT_TIME_BUDGET",))
    operation_budget: int = setting(5_000_000, "Traced operations of user code per workflow step",
                                    aliases=("CAREFLOW_SCRIPT_OPERATION_BUDGET",))
    memory_mb: int = setting(256, "Growth of the process's memory while user code runs, MB",
                             aliases=("CAREFLOW_SCRIPT_MEMORY_MB",))


@dataclass(frozen=True)
class InputSettings:
    json_max_depth: int = setting(64, "JSON nesting allowed in request bodies, variables, forms and payloads",
                                  aliases=("CAREFLOW_JSON_MAX_DEPTH",))
    variables_max_bytes: int = setting(1 * MIB, "Size of the variables, form data or payload of one command, bytes",
                                       aliases=("CAREFLOW_VARIABLES_MAX_BYTES",))
    request_max_bytes: int = setting(5 * MIB, "Largest request body other than a file upload (JSON, forms), bytes; "
                                     "413 above it", aliases=("CAREFLOW_REQUEST_MAX_BYTES",))


@dataclass(frozen=True)
class UploadSettings:
    dir: Path = setting(DEFAULT_DB_PATH.parent / "attachments", "Where uploaded files are kept (content-addressed)",
                        aliases=("CAREFLOW_ATTACHMENT_DIR",), parse=_absolute, shown_default="`instance_dir/attachments`")
    max_bytes: int = setting(10 * MIB, "Largest file, and largest total of the files of one upload (attachments, "
                             "portal, customer import), bytes")
    max_files: int = setting(5, "Files a customer may send with one complaint on the portal")
    form_overhead_bytes: int = setting(1 * MIB, "Room for the form fields beside the files: a multipart request may "
                                       "be max_bytes + this; 413 above it")

    @property
    def max_request_bytes(self) -> int:
        """The cap on a multipart/form-data request body (Flask's per-request MAX_CONTENT_LENGTH)."""
        return self.max_bytes + self.form_overhead_bytes

    @property
    def max_mb(self) -> int:
        return self.max_bytes // MIB


@dataclass(frozen=True)
class PrivacySettings:
    data_key: str | None = setting(None, "One data key (32 bytes, URL-safe base64) from a secret store; no rotation",
                                   aliases=("CAREFLOW_DATA_KEY",), secret=True)
    data_key_file: Path = setting(DEFAULT_KEY_FILE, "The keyring file (made on first use; `careflow keys rotate` adds "
                                  "keys); used when data_key is not set", aliases=("CAREFLOW_DATA_KEY_FILE",),
                                  shown_default="`instance_dir/data.key`")


@dataclass(frozen=True)
class SecuritySettings:
    cheap_password_hashing: bool = setting(False, "Argon2's cheapest parameters (tests only)")
    four_eyes_changes: bool = setting(True, "Changes to live work (new version with live instances, migration, grant, "
                                      "privileged role, admin token) wait for a second person",
                                      aliases=("CAREFLOW_FOUR_EYES_CHANGES",))
    authz_refresh_seconds: float = setting(10.0, "Grants are cached per process and read again after this long, s",
                                           aliases=("CAREFLOW_AUTHZ_REFRESH_SECONDS",))
    login_throttle_after: int = setting(5, "Wrong passwords for one account before each further one doubles the wait",
                                        aliases=("CAREFLOW_LOGIN_THROTTLE_AFTER",))
    login_throttle_ip_after: int = setting(20, "Wrong passwords from one address before the waits start",
                                           aliases=("CAREFLOW_LOGIN_THROTTLE_IP_AFTER",))
    login_throttle_max_seconds: int = setting(900, "Longest wait after wrong passwords, s (never a lock)",
                                              aliases=("CAREFLOW_LOGIN_THROTTLE_MAX_SECONDS",))


@dataclass(frozen=True)
class SessionSettings:
    idle_minutes: int = setting(15, "A staff session ends after this long without a request",
                                aliases=("CAREFLOW_SESSION_IDLE_MINUTES",))
    absolute_hours: int = setting(12, "A staff session ends at the latest this long after sign-in",
                                  aliases=("CAREFLOW_SESSION_ABSOLUTE_HOURS",))
    token_ttl_days: int = setting(90, "API tokens expire this many days after they are made",
                                  aliases=("CAREFLOW_TOKEN_TTL_DAYS",))
    secret_key: str | None = setting(None, "The key that signs session cookies, the same on every node",
                                     aliases=("CAREFLOW_SECRET_KEY",), secret=True)
    secret_key_file: Path | None = setting(None, "Where the cookie key is made once and read at every start, when "
                                           "secret_key is not set", aliases=("CAREFLOW_SECRET_KEY_FILE",),
                                           shown_default="`secret.key` beside the SQLite database, else in `instance_dir`")
    trust_forwarded_proto: bool = setting(False, "Behind a TLS proxy: believe X-Forwarded-Proto and the last "
                                          "X-Forwarded-For entry", aliases=("CAREFLOW_TRUST_FORWARDED_PROTO",))
    secure_cookies: bool = setting(False, "Secure cookies even over plain http", aliases=("CAREFLOW_SECURE_COOKIES",))


@dataclass(frozen=True)
class IntakeSettings:
    secrets: tuple[tuple[str, str], ...] = setting((), "HMAC secret per channel for signed complaint intake",
                                                   aliases=("CAREFLOW_INTAKE_SECRETS",), parse=_secrets, secret=True,
                                                   form="channel:secret,… (secrets of 16+ characters)")
    max_age_seconds: int = setting(60, "How far a signed request's timestamp may lie behind the server's clock, s",
                                   aliases=("CAREFLOW_INTAKE_MAX_AGE_SECONDS",))
    max_future_seconds: int = setting(30, "How far a signed request's timestamp may lie ahead of the server's clock, s",
                                      aliases=("CAREFLOW_INTAKE_MAX_FUTURE_SECONDS",))


@dataclass(frozen=True)
class PortalSettings:
    otp_ttl_seconds: int = setting(300, "A one-time sign-in code is valid this long, s",
                                   aliases=("CAREFLOW_OTP_TTL_SECONDS",))
    otp_max_attempts: int = setting(5, "Wrong tries of one sign-in code before it is spent")
    session_minutes: int = setting(30, "A customer's portal session lasts at most this long")


@dataclass(frozen=True)
class ContactSettings:
    """Contact rules (docs/domain.md §3.5): bank-local window, caps per customer, quiet days, consent."""

    window: tuple[str, str] = setting(("09:00", "20:00"), "Bank-local hours in which customers are contacted",
                                      aliases=("CAREFLOW_CONTACT_WINDOW",), parse=_window,
                                      form="HH:MM-HH:MM", shown_default="`09:00-20:00`")
    cap_service_per_day: int = setting(3, "Service messages per customer in 24 hours")
    cap_marketing_per_day: int = setting(1, "Marketing contacts per customer in 24 hours")
    cap_marketing_per_30_days: int = setting(4, "Marketing contacts per customer in 30 days",
                                             aliases=("CAREFLOW_CAP_MARKETING_30D",))
    marketing_quiet_spring_festival: bool = setting(True, "No marketing on the Spring Festival days")
    marketing_requires_opt_in: bool = setting(True, "Marketing needs the customer's opt-in (an opt-out always stops it)")


@dataclass(frozen=True)
class OutboxSettings:
    message_templates: Path = setting(DEFAULT_TEMPLATES, "The message templates file",
                                      aliases=("CAREFLOW_MESSAGE_TEMPLATES",),
                                      shown_default="`integrations/templates/messages.json`")
    max_attempts: int = setting(6, "Delivery attempts before the dead letter", aliases=("CAREFLOW_OUTBOX_MAX_ATTEMPTS",))
    backoff_seconds: int = setting(30, "First retry delay, doubling per attempt, s")
    backoff_max_seconds: int = setting(3600, "Longest retry delay, s")
    lease_seconds: int = setting(300, "A claimed message is another sender's after this long, s")
    batch_size: int = setting(100, "Messages claimed per round")


@dataclass(frozen=True)
class CareSettings:
    """Care (docs/domain.md §5)."""

    scan_time: str = setting("09:00", "Bank-local time of the daily care scan", aliases=("CAREFLOW_CARE_SCAN_TIME",),
                             parse=_time_of_day, form="HH:MM")
    leap_day_birthday: str = setting("feb28", "A 29 February birthday in a common year: feb28 or mar1",
                                     aliases=("CAREFLOW_LEAP_DAY_BIRTHDAY",))
    batch_size: int = setting(200, "Customers per transaction in the care, tiering and re-assessment scans")


@dataclass(frozen=True)
class WaveSettings:
    """Large scans split into chunks that ``careflow worker`` processes take (engine.care.waves, docs/decisions.md)."""

    backend: str = setting("auto", "Where the care scans' waves run: inline (in the scheduler, as on SQLite), queue "
                           "(chunks on the PostgreSQL job queue for careflow worker) or auto (queue on PostgreSQL "
                           "while a worker is alive, else inline)", aliases=("CAREFLOW_WAVE_BACKEND",))
    chunk_size: int = setting(2000, "Customers per wave chunk (one queued job)")
    max_attempts: int = setting(5, "Tries of one chunk before the wave counts it failed")
    stalled_seconds: float = setting(30.0, "A worker silent this long has stopped: its chunks are queued again "
                                     "(it beats every third of this)")


@dataclass(frozen=True)
class CalendarSettings:
    country: str = setting("CN", "Working days of this country (CN: chinese_calendar with 调休; else the holidays "
                           "library)", aliases=("CAREFLOW_CALENDAR_COUNTRY",), parse=_upper)
    fallback: str = setting("estimate", "A Chinese year no library knows: estimate (with a warning) or error",
                            aliases=("CAREFLOW_CALENDAR_FALLBACK",))
    refresh_seconds: float = setting(30.0, "The bank's own calendar table is read again after this long, s")


@dataclass(frozen=True)
class SlaSettings:
    warn_share: float = setting(0.8, "A task's SLA warning comes at this share of the time to its due date")


@dataclass(frozen=True)
class ComplaintSettings:
    """Complaints (docs/domain.md §0, §1.4–§1.7): calendar days from receipt, receipt day not counted."""

    decision_days_simple: int = setting(15, "Days to decide a simple complaint")
    decision_days_complex: int = setting(30, "Days to decide a complex complaint (total)")
    decision_days_special_max: int = setting(60, "Longest total with an approved special extension, days")
    review_apply_window_days: int = setting(30, "Days after the answer in which a review may be asked for")
    review_decision_days: int = setting(30, "Days to decide a review")
    ack_target_workdays: int = setting(1, "Working days to acknowledge a complaint without an automatic notice")
    warn_day: int = setting(10, "Day after receipt on which an undecided simple complaint warns")
    major_group_threshold: int = setting(20, "Group size from which a complaint starts the major-complaint plan")
    pause_for_external_appraisal: bool = setting(True, "Outside appraisal time is not counted")
    group_face_to_face_max_reps: int = setting(5, "Representatives a face-to-face group complaint may elect")


@dataclass(frozen=True)
class SalesSettings:
    """Suitability and cross-sell (docs/domain.md §2.2–§2.7)."""

    elderly_special_care_age: int = setting(65, "Age (周岁) from which a high-risk sale needs special care")
    elderly_definition_age: int = setting(60, "Age (周岁) from which a customer counts as elderly")
    high_risk_from: int = setting(4, "Product risk level from which a product is high risk (R4)")
    second_check_age: int | None = setting(70, "Age from which a second staff check is needed; none: off")
    cooling_off_private_wmp_hours: int = setting(24, "Cooling-off of private wealth products, hours")
    cooling_off_insurance_days: int = setting(15, "Cooling-off of insurance, days")
    cross_sell_maturity_days: int = setting(30, "A maturing product starts a lead this many days ahead")
    assessment_valid_months: int = setting(12, "A risk questionnaire is valid this long, months")
    reassess_days_before: int = setting(30, "Re-assessment starts this many days before the questionnaire expires")


@dataclass(frozen=True)
class TieringSettings:
    """Tiering and onboarding (docs/domain.md §4.2–§4.3); the customer_tier DMN holds the same floors."""

    floors: tuple[tuple[str, int], ...] = setting(
        (("gold", 50_000), ("platinum", 200_000), ("diamond", 1_000_000), ("private", 6_000_000)),
        "AUM floor per tier, CNY")
    aum_weights: tuple[tuple[str, float], ...] = setting((("loan", 0.0), ("card", 0.0)),
                                                         "Weight of an account kind in AUM (others count 1)")
    downgrade_months: int = setting(3, "Months below a floor before a downgrade (快升缓降)")
    manager_groups: tuple[tuple[int, str], ...] = setting(
        ((2_000_000, "wealth_centre_managers"), (200_000, "branch_wealth_managers"), (100_000, "branch_lobby_managers"),
         (0, "customer_managers")), "The customer manager's group by AUM floor, highest first")


@dataclass(frozen=True)
class PredictionSettings:
    churn_threshold: float = setting(0.4, "Churn score from which a retention revisit starts")
    propensity_threshold: float = setting(0.5, "Propensity score from which a cross-sell lead starts")
    max_actions_per_run: int = setting(50, "Revisits and leads started per run, each")
    training_source: str = setting("bank", "Training history: bank or synthetic")


@dataclass(frozen=True)
class RetentionSettings:
    """How long evidence must be kept at least (docs/domain.md §2.5, §3.4); the retention job applies them."""

    double_recording_months_after_end: int = setting(6, "Sales recordings, months after the product ends")
    aml_kyc_years: int = setting(10, "AML and KYC records, years after the relationship ends")
    network_logs_months: int = setting(6, "Network logs, months")
    pipia_years: int = setting(3, "Personal-information impact assessments, years")
    history_days: int = setting(1825, "Days after an instance ended before it is archived (state, form data, comments "
                                "and attachments dropped; summary and audit chain kept); complaint files ≥ 5 years")
    history_by_process: tuple[tuple[str, int], ...] = setting(
        (("birthday_care", 180), ("holiday_care", 180), ("periodic_revisit", 1095), ("customer_onboarding", 3650),
         ("cross_sell_followup", 3650)),
        "History days per process where the rules differ: greetings (PIPL Arts. 19, 47), revisits (PIPL Art. 56), "
        "KYC and sales (AML)")
    aml_processes: tuple[str, ...] = setting(("customer_onboarding", "cross_sell_followup"),
                                             "Processes kept while the customer relationship lasts and aml_kyc_years "
                                             "after it ended")
    dsr_answer_workdays: int = setting(15, "A customer's access or deletion request is answered within this many "
                                       "working days (docs/domain.md §3.7: no PIPL count; app rules use 15)")


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    core: CoreSettings = field(default_factory=CoreSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    scripts: ScriptSettings = field(default_factory=ScriptSettings)
    inputs: InputSettings = field(default_factory=InputSettings)
    uploads: UploadSettings = field(default_factory=UploadSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    contact: ContactSettings = field(default_factory=ContactSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    care: CareSettings = field(default_factory=CareSettings)
    waves: WaveSettings = field(default_factory=WaveSettings)
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    sla: SlaSettings = field(default_factory=SlaSettings)
    complaints: ComplaintSettings = field(default_factory=ComplaintSettings)
    sales: SalesSettings = field(default_factory=SalesSettings)
    tiering: TieringSettings = field(default_factory=TieringSettings)
    prediction: PredictionSettings = field(default_factory=PredictionSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.core.timezone)

    @property
    def script_limits(self) -> Limits:
        return Limits(seconds=self.scripts.time_budget, operations=self.scripts.operation_budget,
                      memory_mb=self.scripts.memory_mb)

    @property
    def input_limits(self) -> InputLimits:
        return InputLimits(max_depth=self.inputs.json_max_depth, max_bytes=self.inputs.variables_max_bytes)

    @property
    def is_sqlite(self) -> bool:
        return self.database.is_sqlite

    @property
    def secret_key_path(self) -> Path:
        """Where the embedded setup keeps its cookie-signing key: the setting, else beside the SQLite file, else in
        the instance folder."""
        if self.sessions.secret_key_file is not None:
            return self.sessions.secret_key_file
        url = self.database.url
        database = url.split("///", 1)[1] if self.is_sqlite and "///" in url else ""
        if database and database != ":memory:":
            return Path(database).parent / "secret.key"
        return self.core.instance_dir / "secret.key"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (see the module's docstring for the naming rule), validated."""
        env = os.environ if environ is None else environ
        given: dict[str, dict[str, Any]] = {}
        for spec in specs():
            raw = spec.raw(env)
            if raw is not None:
                given.setdefault(spec.area, {})[spec.name] = spec.parse(raw)
            elif spec.env_default is not None:
                given.setdefault(spec.area, {})[spec.name] = spec.env_default
        _warn_unknown(env)
        url = given.get("database", {}).get("url", DatabaseSettings.url)
        privacy = given.setdefault("privacy", {})
        if not url.startswith("sqlite") and not privacy.get("data_key") and "data_key_file" not in privacy:
            raise ConfigurationError("a PostgreSQL database URL needs CAREFLOW_PRIVACY_DATA_KEY_FILE (alias "
                                     "CAREFLOW_DATA_KEY_FILE: the keyring file, kept outside the database server's "
                                     "folders) or CAREFLOW_PRIVACY_DATA_KEY (alias CAREFLOW_DATA_KEY); CareFlow does "
                                     "not create a data key on its own beside a remote database")
        # Paths that follow the instance folder unless set: the folder follows the SQLite database.
        core = given.setdefault("core", {})
        core["instance_dir"] = instance = instance_folder(url, core.get("instance_dir"))
        privacy.setdefault("data_key_file", instance / "data.key")
        given.setdefault("uploads", {}).setdefault("dir", (instance / "attachments").absolute())
        area_types = _area_types()
        settings = cls(**{area: area_types[area](**values) for area, values in given.items()})
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            ZoneInfo(self.core.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(f"CAREFLOW_CORE_TIMEZONE: unknown time zone {self.core.timezone!r}") from exc
        if not (self.is_sqlite or self.database.url.startswith("postgresql")):
            raise ConfigurationError("CAREFLOW_DATABASE_URL (DATABASE_URL) must be an sqlite:// or postgresql:// URL")
        if self.care.leap_day_birthday not in ("feb28", "mar1"):
            raise ConfigurationError("CAREFLOW_CARE_LEAP_DAY_BIRTHDAY must be feb28 or mar1")
        if self.waves.backend not in ("auto", "inline", "queue"):
            raise ConfigurationError("CAREFLOW_WAVES_BACKEND (CAREFLOW_WAVE_BACKEND) must be auto, inline or queue")
        if self.waves.backend == "queue" and self.is_sqlite:
            raise ConfigurationError("CAREFLOW_WAVES_BACKEND=queue needs PostgreSQL: the job queue lives there")
        if self.waves.chunk_size < 1 or self.waves.max_attempts < 1 or self.waves.stalled_seconds <= 0:
            raise ConfigurationError("CAREFLOW_WAVES_CHUNK_SIZE, _MAX_ATTEMPTS and _STALLED_SECONDS must be positive")
        if self.calendar.fallback not in FALLBACKS:
            raise ConfigurationError(f"CAREFLOW_CALENDAR_FALLBACK must be one of {', '.join(FALLBACKS)}")
        if self.calendar.country != "CN" and self.calendar.country not in known_countries():
            raise ConfigurationError(f"CAREFLOW_CALENDAR_COUNTRY {self.calendar.country!r} is not a country code the "
                                     "holidays library knows")
        if not self.scheduler.heartbeat_seconds * 2 <= self.scheduler.stale_seconds:
            raise ConfigurationError("CAREFLOW_SCHEDULER_STALE_SECONDS must be at least twice "
                                     "CAREFLOW_SCHEDULER_HEARTBEAT_SECONDS, or healthy jobs look stopped")
        if self.core.log_format not in ("text", "json"):
            raise ConfigurationError("CAREFLOW_CORE_LOG_FORMAT (CAREFLOW_LOG_FORMAT) must be text or json")
        if self.prediction.training_source not in ("bank", "synthetic"):
            raise ConfigurationError("CAREFLOW_PREDICTION_TRAINING_SOURCE must be bank or synthetic")
        for value in (*self.contact.window, self.care.scan_time):
            _clock_time(value)


# --- the fields as data: environment names, parsing, the README table ----------------------------------------------


@dataclass(frozen=True)
class SettingSpec:
    """One settings field as the environment and the README see it."""

    area: str
    name: str
    type: Any
    default: Any
    doc: str
    aliases: tuple[str, ...]
    parser: Callable[[str], Any] | None
    positive: bool
    secret: bool
    shown_default: str | None
    env_default: Any
    form: str

    @property
    def variable(self) -> str:
        return f"{PREFIX}{self.area}_{self.name}".upper()

    @property
    def path(self) -> str:
        return f"{self.area}.{self.name}"

    def raw(self, env: Mapping[str, str]) -> str | None:
        """The text the environment gives for this field (empty counts as unset), or None.

        Set under the canonical name and an alias with different values: an error, since either choice would
        silently ignore one of them."""
        found = [(name, env[name]) for name in (self.variable, *self.aliases) if env.get(name, "") != ""]
        if len({value for _name, value in found}) > 1:
            names = " and ".join(name for name, _value in found)
            raise ConfigurationError(f"{names} are both set, to different values; set only {self.variable}")
        return found[0][1] if found else None

    def parse(self, raw: str) -> Any:
        try:
            value = self.parser(raw) if self.parser else _parse_as(self.type, raw)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{self.variable}: {exc.message}") from exc
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"{self.variable} must be {self.form}, got {raw!r}") from exc
        if isinstance(value, int | float) and not isinstance(value, bool) and (value < 0 or self.positive and value == 0):
            raise ConfigurationError(f"{self.variable} must be {'positive' if self.positive else '0 or more'}, got {raw!r}")
        return value


def _area_types() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings)}


def specs() -> Iterator[SettingSpec]:
    """Every settings field, area by area in the order of :class:`Settings`."""
    for area, area_type in _area_types().items():
        assert is_dataclass(area_type)
        hints = typing.get_type_hints(area_type)
        for f in fields(area_type):
            meta = f.metadata
            variable = f"{PREFIX}{area}_{f.name}".upper()
            aliases = tuple(a for a in meta.get("aliases", ()) if a != variable)  # old names that fit the rule
            yield SettingSpec(area, f.name, hints[f.name], f.default, meta.get("doc", ""), aliases, meta.get("parse"),
                              meta.get("positive", True), not f.repr, meta.get("shown_default"), meta.get("env_default"),
                              meta.get("form") or syntax(hints[f.name]))


TRUE, FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def _parse_as(kind: Any, raw: str) -> Any:
    """``raw`` as a value of the annotated type: int, float, bool (1/0, true/false, yes/no, on/off), str, Path,
    ``X | None`` (``none`` for None), ``tuple[X, ...]`` (comma-separated) and ``tuple[A, B]`` (``a:b``)."""
    text = raw.strip()
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        inner = next(a for a in args if a is not type(None))
        return None if text.lower() in ("none", "off") else _parse_as(inner, text)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse_as(args[0], item) for item in text.split(",") if item.strip())
        parts = text.split(":", len(args) - 1)
        if len(parts) != len(args):
            raise ValueError(text)
        return tuple(_parse_as(a, p) for a, p in zip(args, parts, strict=True))
    if kind is bool:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(text)
    if kind in (int, float, str, Path):
        return kind(text)
    raise TypeError(f"no parser for {kind!r}")


def syntax(kind: Any) -> str:
    """The written form of a type, for the README and error messages."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        return f"{syntax(next(a for a in args if a is not type(None)))} or none"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {syntax(args[0])}, comma-separated"
        return ":".join(syntax(a) for a in args)
    return {bool: "1/0 (true/false)", int: "an integer", float: "a number", str: "text", Path: "a path"}.get(kind, "?")


def _warn_unknown(env: Mapping[str, str]) -> None:
    """Log each CAREFLOW_ variable that sets nothing (a misspelt name is otherwise silently ignored)."""
    known = {name for spec in specs() for name in (spec.variable, *spec.aliases)}
    for name in sorted(n for n in env if n.startswith(PREFIX)):
        if name in known or name in READ_ELSEWHERE or name.startswith(READ_ELSEWHERE_PREFIXES):
            continue
        close = difflib.get_close_matches(name, sorted(known | READ_ELSEWHERE), n=3, cutoff=0.75)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        log.warning("%s is not a CareFlow setting and is ignored%s", name, hint)


def load_keyring(settings: Settings) -> Keyring:
    """The data keys: ``CAREFLOW_PRIVACY_DATA_KEY`` as a ring of one, else the keyring file, created on first use
    (mode 0600, a ring of one fresh key).

    Losing the file makes the encrypted personal data unreadable, so it is never overwritten except by
    ``careflow keys rotate``, which only adds keys.
    """
    from engine.privacy import Keyring, new_data_key

    if settings.privacy.data_key:
        return Keyring.single(settings.privacy.data_key)
    path = settings.privacy.data_key_file
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
