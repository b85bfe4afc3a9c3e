"""Alembic environment: the engine's metadata, render_as_batch for SQLite ALTERs."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool

from engine.db import registry  # noqa: F401  (registers every table: the engine's and the features')
from engine.db.base import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = engine_from_config(config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.",
                                    poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate leaves the job queue's tables alone (procrastinate_*, migration 0029)."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def _run(connection: Any) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True, include_name=_ours)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
