"""Shared fixtures: a real database per test session, a frozen clock, an engine context.

``DATABASE_URL`` chooses the database: unset → a temporary SQLite file; a PostgreSQL URL →
a fresh database ``careflow_test_<pid>`` created on that server (and dropped afterwards).
If PostgreSQL was asked for and cannot be reached, the run fails: it never skips.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine.clock import FrozenClock
from engine.config import (
    CoreSettings,
    DatabaseSettings,
    PrivacySettings,
    SecuritySettings,
    Settings,
    UploadSettings,
    normalize_database_url,
)
from engine.context import EngineContext, build_engine
from engine.db import migrate
from engine.db.base import Base
from engine.db.session import make_db_engine
from engine.services import identity
from engine.services.grants import seed_defaults
from engine.views import Actor
from tests.support.mail import sink  # noqa: F401 - a real SMTP server fixture, shared by the test modules

START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
TEST_DATA_KEY = "Y2FyZWZsb3ctdGVzdC1kYXRhLWtleS0zMi1ieXRlcyE="  # 32 bytes, tests only


def _postgres_database(url: str) -> Iterator[str]:
    admin_url = make_url(normalize_database_url(url))
    name = f"careflow_test_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - report any connection failure as a hard failure
        pytest.exit(f"PostgreSQL at {admin_url.render_as_string()} is unreachable: {exc}", returncode=3)
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith("postgres"):
        yield from _postgres_database(url)
    else:
        path: Path = tmp_path_factory.mktemp("db") / "careflow_test.db"
        yield f"sqlite:///{path}"


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(database=DatabaseSettings(url=database_url), core=CoreSettings(spec_cache_size=16),
                    privacy=PrivacySettings(data_key=TEST_DATA_KEY), security=SecuritySettings(cheap_password_hashing=True),
                    uploads=UploadSettings(dir=tmp_path_factory.mktemp("attachments")))


@pytest.fixture(scope="session")
def db(settings: Settings) -> Iterator[Engine]:
    engine = make_db_engine(settings)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _truncate(db: Engine) -> None:
    """Empty every table, then put back the built-in grants (a new database has them from its migration)."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    # A browser test's live server may still be answering a request (a page's poll) when the test ends: PostgreSQL
    # may then pick the TRUNCATE as a deadlock victim. The request ends in a moment; try again.
    for attempt in range(5):
        try:
            with db.begin() as conn:
                if db.dialect.name == "postgresql":
                    conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
                else:
                    for table in tables:
                        conn.execute(text(f'DELETE FROM "{table}"'))
            break
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    with Session(db) as session, session.begin():
        seed_defaults(session, START)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def ctx(settings: Settings, db: Engine, clock: FrozenClock) -> Iterator[EngineContext]:
    context = build_engine(settings, clock=clock, db=db)
    yield context
    _truncate(db)


@pytest.fixture
def is_postgres(settings: Settings) -> bool:
    return not settings.is_sqlite


@pytest.fixture
def people(ctx: EngineContext) -> dict[str, Actor]:
    """One user per role; staff in service_team, supervisor over service_team and supervisors."""
    specs = {
        "alice": (["staff"], ["service_team"]),
        "bob": (["staff"], ["service_team"]),
        "carol": (["staff"], ["branch_team"]),
        "sam": (["supervisor"], ["service_team", "supervisors"]),
        "dora": (["designer"], []),
        "root": (["admin"], []),
    }
    for name, (roles, groups) in specs.items():
        identity.create_user(ctx, username=name, roles=roles, groups=groups, password="correct horse 1")
    return {name: identity.get_actor(ctx, name) for name in specs}
