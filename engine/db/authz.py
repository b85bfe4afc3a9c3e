"""Tables of the permission model: grants, maker-checker approvals, and who performed each step of an instance.

- ``authz_grant``: one permission on one resource for one principal (a user, a group, a role, or a process key
  for a handler). Nothing is allowed without a grant (``engine.authz``).
- ``approval_request``: a change that needs a second person (a new version of a process with live instances, a
  migration, a grant, a privileged role, an administrator's own API token), kept with its decision.
- ``task_performer``: every person who completed, was delegated, or patched a step of an instance, with when —
  what four-eyes rules exclude from approving that step (``engine.runtime.four_eyes``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId


class Grant(Base):
    __tablename__ = "authz_grant"
    __table_args__ = (
        UniqueConstraint("principal_kind", "principal", "resource_kind", "resource_id", "permission",
                         name="uq_authz_grant"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    principal_kind: Mapped[str] = mapped_column(String(16))  # user | group | role | process
    principal: Mapped[str] = mapped_column(String(128))
    resource_kind: Mapped[str] = mapped_column(String(16))  # process | instance | message | customer | handler | system
    resource_id: Mapped[str] = mapped_column(String(256))  # an id, or "*" for every resource of the kind
    permission: Mapped[str] = mapped_column(String(32))
    granted_by: Mapped[str] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128))  # the second person; None for the built-in defaults
    granted_at: Mapped[datetime]


class ApprovalStatus:
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    FAILED = "failed"  # approved, but carrying it out failed (e.g. the definition no longer deploys); see result


class ApprovalRequest(Base):
    __tablename__ = "approval_request"
    __table_args__ = (Index("ix_approval_request_status", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # deploy | migration | grant | roles | token
    subject: Mapped[str] = mapped_column(String(256))  # what it is about: a process key, a user name
    summary: Mapped[str] = mapped_column(Text)  # for the approver: what changes
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class TaskPerformer(Base):
    __tablename__ = "task_performer"
    __table_args__ = (Index("ix_task_performer_instance", "instance_id", "element_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("process_instance.id", ondelete="CASCADE"))
    element_id: Mapped[str] = mapped_column(String(256))
    username: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # completed | delegate | patched
    at: Mapped[datetime]
