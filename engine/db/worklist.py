"""Tables of the staff work surface: saved inbox views and staff notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId


class InboxView(Base):
    """A named set of inbox filters: one person's own, or shared by a supervisor with a group (``shared_group``)."""

    __tablename__ = "inbox_view"
    __table_args__ = (
        UniqueConstraint("owner", "name"),
        Index("ix_inbox_view_shared_group", "shared_group"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(80))
    shared_group: Mapped[str | None] = mapped_column(String(128))
    query: Mapped[dict[str, Any]] = mapped_column(JSON)  # the inbox's own parameters: view, filters, sort, size
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StaffNotification(Base):
    """Something a member of staff should know: a task assigned to them, an approval waiting, an SLA warning or
    breach. Written by the engine in the transaction of the event; read and marked read by its recipient."""

    __tablename__ = "staff_notification"
    __table_args__ = (
        Index("ix_staff_notification_recipient", "recipient", "read_at", "id"),
        Index("ix_staff_notification_task", "task_id", "kind"),
        UniqueConstraint("recipient", "dedupe_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))  # task_assigned | approval_waiting | sla_warning | sla_breached
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    title: Mapped[str] = mapped_column(String(512))
    # SLA events are told once per task and person; other kinds may repeat (a task assigned again)
    dedupe_key: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class StaffNotificationSetting(Base):
    """How one member of staff wants to hear of events beyond the bell: which kinds, by which channel, where."""

    __tablename__ = "staff_notification_setting"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # inapp (the bell only) | email | wecom
    address: Mapped[str | None] = mapped_column(String(256))  # work e-mail address or WeCom user id
    events: Mapped[str] = mapped_column(String(256), default="")  # comma-separated kinds of engine.notify.KINDS
    updated_at: Mapped[datetime]
