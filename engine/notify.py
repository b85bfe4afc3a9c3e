"""Writing staff notifications in the transaction of the event that causes them (like engine.audit).

A notification names one person; a person whose settings ask for it also gets it by e-mail or WeCom, as a staff
message in the outbox written in the same transaction (engine.services.notification_settings). Events for a group
(an approval task waiting for any supervisor of a team) are fanned out to the group's active members when written,
so that each person reads and marks their own. SLA events carry a ``dedupe_key``: told once per task and person,
however often a sweep sees the task.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine import wakeups
from engine.db.models import Group, GroupMembership, User
from engine.db.worklist import StaffNotification, StaffNotificationSetting
from engine.outbox.models import OutboxMessage, OutboxStatus

KINDS = ("task_assigned", "approval_waiting", "sla_warning", "sla_breached")
FAN_OUT_CAP = 200  # a group larger than this is told through its queue, not one notification per member
_TABLE = cast(Table, StaffNotification.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
STAFF_TEMPLATE = "staff_notification"


def members(session: Session, groups: Iterable[str], *, role: str | None = None) -> list[str]:
    """Active users in any of ``groups`` (with ``role`` when given), by name."""
    names = sorted(set(groups))
    if not names:
        return []
    found = session.execute(
        select(User.username, User.roles).join(GroupMembership, GroupMembership.user_id == User.id)
        .join(Group, Group.id == GroupMembership.group_id)
        .where(Group.name.in_(names), User.active.is_(True)).limit(FAN_OUT_CAP)
    ).all()
    return sorted({name for name, roles in found
                   if role is None or role in roles.split(",") or "admin" in roles.split(",")})


def notify(session: Session, recipients: Iterable[str], *, kind: str, title: str, at: datetime,
           task_id: uuid.UUID | None = None, dedupe: str | None = None) -> int:
    """Tell each of ``recipients`` about one event; returns how many rows were written. With ``dedupe``, a person
    already told with the same key is not told again."""
    assert kind in KINDS, kind
    rows: list[dict[str, Any]] = [
        {"recipient": name, "kind": kind, "task_id": task_id, "title": title[:512], "created_at": at,
         "dedupe_key": dedupe}
        for name in sorted({r for r in recipients if r and r != "system"})]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dedupe is None:
        insert = _TABLE.insert()
    else:
        insert = (postgresql.insert(_TABLE) if dialect == "postgresql" else sqlite.insert(_TABLE)).on_conflict_do_nothing(
            index_elements=["recipient", "dedupe_key"])
    written = {name: number for number, name in session.connection().execute(
        insert.returning(_TABLE.c.id, _TABLE.c.recipient), rows).all()}
    _send_outside(session, written, kind=kind, title=title, at=at, task_id=task_id)
    return len(written)


def _send_outside(session: Session, written: dict[str, int], *, kind: str, title: str, at: datetime,
                  task_id: uuid.UUID | None) -> None:
    """Queue a staff message for each recipient whose settings ask for this kind by e-mail or WeCom (keyed by the
    notification: one message per notification, whatever retries the outbox makes)."""
    if not written:
        return
    wanted = session.execute(
        select(StaffNotificationSetting.username, StaffNotificationSetting.channel, StaffNotificationSetting.events)
        .where(StaffNotificationSetting.username.in_(sorted(written)), StaffNotificationSetting.channel != "inapp")
    ).all()
    chosen = [(name, channel) for name, channel, events in wanted if kind in events.split(",")]
    if not chosen:
        return
    session.connection().execute(_OUTBOX.insert(), [
        {"idempotency_key": f"staff-notification:{written[name]}", "channel": channel,
         "purpose": "staff", "template": STAFF_TEMPLATE, "params": {"kind": kind, "title": title,
                                                                     "task_id": str(task_id) if task_id else None},
         "urgent": kind == "sla_breached", "status": OutboxStatus.PENDING.value, "attempts": 0, "next_attempt_at": at,
         "created_at": at, "result_delivered": False, "recipient_kind": "staff", "staff_user": name}
        for name, channel in chosen])
    wakeups.note_due(session, "outbox", at)
