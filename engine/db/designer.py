"""Designer drafts: work in progress on a BPMN diagram or a form, saved from the browser.

A draft is not a deployment: nothing runs from it. Deploying a process drafts turns them into
the next immutable ``process_definition`` version (engine.services.designer). One draft per
(kind, name); saving again replaces it and bumps ``revision`` so that two designers editing the
same draft notice each other (the save names the revision it started from).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId


class DesignerDraft(Base):
    __tablename__ = "designer_draft"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # process | form
    name: Mapped[str] = mapped_column(String(128))  # process key or form id
    content: Mapped[str] = mapped_column(Text)
    base_version: Mapped[int | None] = mapped_column(Integer)  # the deployed version it was opened from
    revision: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime]
