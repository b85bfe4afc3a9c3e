"""Activity history: when each BPMN activity of an instance was entered and left (the designer's heatmap).

One row per SpiffWorkflow task of a BPMN element (a user, service, script, send or receive task, a call activity or
sub-process, an event; a gateway or boundary event when it is passed), keyed by the SpiffWorkflow task id: the
workflow step (``engine.runtime.history``) inserts a row when the element is entered and closes it when it is left,
in the step's own transaction. ``started_at`` is empty only for an activity that was already waiting when history
began to be recorded (migration 0026 fills the user tasks from ``human_task``). Rows go with their instance
(``ON DELETE CASCADE``): their retention is the instance's.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base


class ActivityOutcome:
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # the process went on without it (boundary event, event-based gateway, cancel)
    ERROR = "error"  # its script or service failed; a retry reopens the row


class ActivityHistory(Base):
    __tablename__ = "activity_history"
    __table_args__ = (
        Index("ix_activity_history_process_element", "process_key", "definition_id", "element_id"),
        Index("ix_activity_history_open", "instance_id", "ended_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # the SpiffWorkflow task id
    instance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    process_key: Mapped[str] = mapped_column(String(128))
    definition_id: Mapped[int] = mapped_column(Integer)  # the deployed version it was entered on
    element_id: Mapped[str] = mapped_column(String(256))  # BPMN element id
    element_type: Mapped[str] = mapped_column(String(32))  # userTask, serviceTask, exclusiveGateway, ...
    started_at: Mapped[datetime | None]  # UTC
    ended_at: Mapped[datetime | None]  # UTC; empty while active
    outcome: Mapped[str | None] = mapped_column(String(16))  # ActivityOutcome; empty while active
    actor: Mapped[str | None] = mapped_column(String(128))  # who completed it, where a person did
