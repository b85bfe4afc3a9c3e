"""Telling the scheduler that something became due earlier than it planned.

Whoever writes a timer or an outbox row notes its due time on the session
(:func:`note_due`). After the transaction commits, the listeners registered on the
engine context are called in this process (the web app with its scheduler thread);
on PostgreSQL a ``NOTIFY careflow_wakeup`` goes out with the commit too, so a scheduler in
another process hears it (``engine.scheduler`` listens). Nothing here changes data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

CHANNEL = "careflow_wakeup"
_KEY = "careflow.wakeups"

Listener = Callable[[str, datetime], None]


def note_due(session: Session, kind: str, due: datetime) -> None:
    """Remember the earliest new due time of ``kind`` ("timer" or "outbox") in this transaction."""
    pending: dict[str, datetime] = session.info.setdefault(_KEY, {})
    if kind not in pending or due < pending[kind]:
        pending[kind] = due


def install(factory: sessionmaker[Session], listeners: list[Listener]) -> None:
    """Wire the commit hooks on a session factory; ``listeners`` may grow later (the scheduler adds itself)."""

    @event.listens_for(factory, "before_commit")
    def _notify(session: Session) -> None:
        pending = session.info.get(_KEY)
        if pending and session.get_bind().dialect.name == "postgresql":
            for kind, due in pending.items():
                session.execute(text("SELECT pg_notify(:channel, :payload)"),
                                {"channel": CHANNEL, "payload": f"{kind}|{due.isoformat()}"})

    @event.listens_for(factory, "after_commit")
    def _call(session: Session) -> None:
        pending = session.info.pop(_KEY, None)
        for kind, due in (pending or {}).items():
            for listener in list(listeners):
                listener(kind, due)

    @event.listens_for(factory, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop(_KEY, None)


def parse(payload: str) -> tuple[str, datetime] | None:
    kind, _, iso = payload.partition("|")
    try:
        return kind, datetime.fromisoformat(iso)
    except ValueError:
        return None
