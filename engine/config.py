"""Engine settings, parsed once from the environment and then frozen.

Nothing else in the engine reads ``os.environ``: build a :class:`Settings` with
:meth:`Settings.from_env` at start-up and pass it on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import ConfigurationError

DEFAULT_DB_PATH = Path("instance") / "careflow.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    timezone: str = "Asia/Shanghai"
    allow_clock_override: bool = False
    spec_cache_size: int = 64
    timer_batch_size: int = 200
    # Dotted paths ("package.module:attr") of modules that register service-task handlers.
    handler_modules: tuple[str, ...] = field(default_factory=tuple)
    echo_sql: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = env.get("DATABASE_URL") or cls.database_url
        settings = cls(
            database_url=normalize_database_url(url),
            timezone=env.get("CAREFLOW_TIMEZONE", cls.timezone),
            allow_clock_override=env.get("CAREFLOW_ALLOW_CLOCK_OVERRIDE", "") == "1",
            spec_cache_size=_int(env, "CAREFLOW_SPEC_CACHE_SIZE", cls.spec_cache_size),
            timer_batch_size=_int(env, "CAREFLOW_TIMER_BATCH_SIZE", cls.timer_batch_size),
            handler_modules=tuple(m for m in env.get("CAREFLOW_HANDLER_MODULES", "").split(",") if m),
            echo_sql=env.get("CAREFLOW_ECHO_SQL", "") == "1",
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


def normalize_database_url(url: str) -> str:
    """Accept the usual ``postgres://``/``postgresql://`` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


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
