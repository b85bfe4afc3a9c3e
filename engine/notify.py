"""Writing staff notifications in the transaction of the event that causes them (like engine.audit).

A notification names one person. Events for a group (an approval task waiting for any supervisor of a team) are
fanned out to the group's active members when written, so that each person reads and marks their own. SLA events
carry a ``dedupe_key``: told once per task and person, however often a sweep sees the task.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.db.models import Group, GroupMembership, User
from engine.db.worklist import StaffNotification

KINDS = ("task_assigned", "approval_waiting", "sla_warning", "sla_breached")
FAN_OUT_CAP = 200  # a group larger than this is told through its queue, not one notification per member
_TABLE = cast(Table, StaffNotification.__table__)


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
        session.connection().execute(_TABLE.insert(), rows)
        return len(rows)
    insert = postgresql.insert(_TABLE) if dialect == "postgresql" else sqlite.insert(_TABLE)
    result = session.connection().execute(insert.on_conflict_do_nothing(index_elements=["recipient", "dedupe_key"]),
                                          rows)
    return max(result.rowcount, 0)
