"""Legal holds: what retention must not archive or delete while a dispute, an investigation or an order runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId


class LegalHold(Base):
    __tablename__ = "legal_hold"
    __table_args__ = (Index("ix_legal_hold_subject", "subject_type", "subject_id", "released_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # "instance" | "customer" | "process"
    subject_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(128))
    placed_at: Mapped[datetime]
    released_by: Mapped[str | None] = mapped_column(String(128))
    released_at: Mapped[datetime | None]
