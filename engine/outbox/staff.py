"""Staff messages in the outbox: a notification (engine.notify) sent by e-mail or WeCom to a member of staff.

No customer rule applies (consent, do-not-disturb, contact window, caps: those protect customers); the person's own
settings decide, read again when the message is sent, so switching a channel off stops what is still queued.
Staff pages are in Chinese first, and so are these messages.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from engine.db.worklist import StaffNotificationSetting
from engine.outbox.models import OutboxMessage
from engine.outbox.ports import OutboundMessage

LABELS = {"task_assigned": "有任务分配给你", "approval_waiting": "有审批等待你处理", "sla_warning": "任务即将到期",
          "sla_breached": "任务已超时"}
_PAIR = re.compile(r"^(?P<zh>[^A-Za-z]*[\u3400-\u9fff][^A-Za-z]*?)\s+[A-Za-z].*$")


def chinese(name: str) -> str:
    """The Chinese part of a "中文 English" element name (any other name as written)."""
    found = _PAIR.match(name.strip())
    return found.group("zh").strip() if found else name.strip()


def outbound(session: Session, row: OutboxMessage) -> OutboundMessage | None:
    """The message to send, or None when the person's settings no longer ask for it (suppressed)."""
    setting = session.get(StaffNotificationSetting, row.staff_user) if row.staff_user else None
    kind = str(row.params.get("kind", ""))
    if (setting is None or setting.channel != row.channel or not setting.address
            or kind not in setting.events.split(",")):
        return None
    label = LABELS.get(kind, kind)
    title = chinese(str(row.params.get("title") or ""))
    task_id = row.params.get("task_id")
    body = f"【CareFlow】{label}：{title}" + (f"\n打开任务：/inbox/tasks/{task_id}" if task_id else "")
    return OutboundMessage(idempotency_key=row.idempotency_key, channel=row.channel, address=setting.address,
                           body=body, subject=f"{label}：{title}", template_key=row.template, lang="zh-CN",
                           fields={"kind": label, "title": title})
