"""What a person submitted on each task, and the drafts they keep while filling one in.

- ``task_submission``: one row per completion of a user task with a form — the cleaned data, who and when. An
  approval task shows the submission it approves (``approves``), and, after a send-back, the diff against the
  submission before it; the process's own variables are overwritten by each round, so they cannot tell.
- ``task_draft``: a form saved half-filled, per task and user, restored when that user opens the task again and
  removed when they discard it or complete the task.

Both hold form data, which carries personal data (an ID number, a phone, an address): like an instance's state,
it is stored sealed with the data key (``FieldCipher.seal`` of the JSON), never readable in the table.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId


class TaskSubmission(Base):
    __tablename__ = "task_submission"
    __table_args__ = (Index("ix_task_submission_instance", "instance_id", "element_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("process_instance.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    element_id: Mapped[str] = mapped_column(String(256))
    form_key: Mapped[str | None] = mapped_column(String(128))
    data_sealed: Mapped[str] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(128))
    submitted_at: Mapped[datetime]


class TaskDraft(Base):
    __tablename__ = "task_draft"

    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    data_sealed: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime]
