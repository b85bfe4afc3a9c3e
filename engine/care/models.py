"""The care feature's table: one row per daily care scan (job, bank-local day)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base


class CareScanRun(Base):
    """One daily care scan (job, bank-local day): what it started, so reruns and catch-ups are visible."""

    __tablename__ = "care_scan_run"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # "running" | "done" | "failed"
    started: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class WaveChunk(Base):
    """One chunk of a wave: the customers of scan (job, day) with ids in (``lo``, ``hi``], run by a ``careflow
    worker`` (engine.care.waves). ``cursor`` is the last customer of the last batch committed with its counts, so a
    chunk taken again after a kill goes on from there."""

    __tablename__ = "wave_chunk"
    __table_args__ = (UniqueConstraint("job", "day", "seq"), Index("ix_wave_chunk_day", "day", "job", "state"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(Integer)
    lo: Mapped[str | None] = mapped_column(String(32))  # exclusive; None: from the first customer
    hi: Mapped[str | None] = mapped_column(String(32))  # inclusive; None: to the last (customers added meanwhile too)
    cursor: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # "queued" | "running" | "done" | "failed"
    started: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
