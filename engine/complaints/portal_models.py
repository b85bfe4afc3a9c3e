"""Tables of the customer portal and the intake channels: one-time codes and rate-limit hits.

A one-time code row is written for *every* code request, whether or not the phone belongs to a
customer (``customer_id`` is then NULL and the code was never sent), so rate limits and answers
are the same either way and nobody can learn from them which phones are customers. Neither the
phone nor the code is stored: the phone as its keyed lookup hash (``engine.privacy``), the code
as a keyed hash salted per row; the requester's IP address likewise only as a keyed hash.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId


class OneTimeCode(Base):
    """A code sent (or, for an unknown phone, pretended to be sent) for a portal sign-in."""

    __tablename__ = "portal_code"
    __table_args__ = (
        Index("ix_portal_code_phone", "phone_index", "created_at"),
        Index("ix_portal_code_ip", "ip_index", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone_index: Mapped[str] = mapped_column(String(64))
    ip_index: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outbox_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class RateHit(Base):
    """One counted request in a rate-limit bucket ("intake:wechat", "otp-verify:<ip hash>", ...)."""

    __tablename__ = "rate_hit"
    __table_args__ = (Index("ix_rate_hit_bucket", "bucket", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bucket: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
