"""Sign-in state shared by every web worker and node: server-side sessions and login throttle counters.

A browser's cookie carries only a random session id; the row here is what makes it valid, so logging out, a lock
or a deactivation ends the session everywhere at once, and a copied cookie is worth nothing afterwards. Only the
id's SHA-256 is stored, so a read of this table gives nobody a usable session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId


class WebSession(Base):
    """A signed-in browser: a staff member (``kind`` "staff", subject the user name) or a portal customer
    ("customer", subject the customer id)."""

    __tablename__ = "web_session"
    __table_args__ = (
        Index("ix_web_session_subject", "kind", "subject"),
        Index("ix_web_session_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]  # written at most once a minute, for the idle timeout
    expires_at: Mapped[datetime]  # the absolute timeout


class LoginThrottle(Base):
    """Wrong passwords counted per account ("user:<name>") or per address ("ip:<keyed hash>")."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None]
