"""Tables of signed channel intake (web.complaints.api, engine.complaints.intake): the channels' secrets and the
signatures already accepted.

Secrets live in the database so that a channel can hold two at once while it rotates (add the new one, move the
sender over, retire the old one) and every worker sees the same set; the secret itself is stored encrypted with the
data key (engine.privacy), and identified by a short fingerprint. A seen request is kept until its timestamp can no
longer pass the clock window, so each signed request is accepted once across all workers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId


class IntakeSecret(Base):
    """One signing secret of a channel; active until ``retired_at``."""

    __tablename__ = "intake_secret"
    __table_args__ = (Index("ix_intake_secret_channel", "channel", "retired_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(128), default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    retired_by: Mapped[str | None] = mapped_column(String(128))
    retired_at: Mapped[datetime | None]


class SeenIntakeRequest(Base):
    """A signed request already accepted: its signature, unique, until it could not pass the clock window anyway."""

    __tablename__ = "intake_seen"
    __table_args__ = (Index("ix_intake_seen_expires", "expires_at"),)

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
