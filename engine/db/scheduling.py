"""The scheduler's heartbeats: one row per (job, scheduler process), so that a stopped job is seen from the web."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base


class SchedulerHeartbeat(Base):
    """What one scheduler process last knew about one of its jobs (engine.scheduler writes it every few seconds).

    ``beat_at`` is the last moment the job was known to be healthy: waiting for its next round, or in a round that
    started then. A row whose ``beat_at`` is older than ``scheduler_stale_seconds`` belongs to a job that stopped,
    hangs, or a process that was killed (engine.services.scheduler_health)."""

    __tablename__ = "scheduler_heartbeat"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid of the scheduler process
    beat_at: Mapped[datetime]
    last_start_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    next_due_at: Mapped[datetime | None]
