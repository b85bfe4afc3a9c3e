"""SQLAlchemy models for the engine's tables (docs/architecture.md §2).

The serialized SpiffWorkflow state in ``process_instance.state`` is the source of
truth for where an instance is; ``human_task``, ``task_candidate``, ``timer`` and
``message_subscription`` are query tables rebuilt from it in the same transaction.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db.base import Base, BigId


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"  # waiting for people, timers or messages
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ERROR = "error"  # a step failed; see error_* columns; retry_instance resumes it


class HumanTaskStatus(enum.StrEnum):
    OPEN = "open"  # ready, nobody has claimed it
    CLAIMED = "claimed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # the process moved on without it (boundary event, cancel)


class TimerStatus(enum.StrEnum):
    # A fired or withdrawn timer's row is deleted (the audit trail keeps its history).
    PENDING = "pending"


class ProcessDefinition(Base):
    """An immutable, versioned deployment of one executable process and its files."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(256))
    sha256: Mapped[str] = mapped_column(String(64))
    deployed_by: Mapped[str] = mapped_column(String(128))
    deployed_at: Mapped[datetime]
    # active | suspended (no new instances, the running ones go on) | retired (also hidden from start lists)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    files: Mapped[list[DefinitionFile]] = relationship(back_populates="definition", order_by="DefinitionFile.filename")


class DefinitionFile(Base):
    __tablename__ = "definition_file"
    __table_args__ = (UniqueConstraint("definition_id", "filename"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))  # bpmn | dmn | form
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    definition: Mapped[ProcessDefinition] = relationship(back_populates="files")


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (
        UniqueConstraint("process_key", "business_key"),
        Index("ix_process_instance_status_started", "status", "started_at"),
        Index("ix_process_instance_business_key", "business_key"),  # global search finds an instance by it alone
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(128))
    business_key: Mapped[str | None] = mapped_column(String(256))
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(Text)
    state_version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    started_by: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    error_task: Mapped[str | None] = mapped_column(String(256))
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    audit_head: Mapped[str | None] = mapped_column(String(64))  # the hash of the last event on its audit stream
    # Set when retention archived the ended instance: its state, form data, comments and attachments are gone;
    # this row (the summary) and its audit chain stay (engine.services.retention).
    archived_at: Mapped[datetime | None]
    # Written only by engine.runtime.rows, which checks and advances ``revision`` on every write (optimistic lock).


class _NamedColumns(Protocol):
    candidate_groups: str
    candidate_users: str
    excluded_users: str


def split_names(text: str | None) -> tuple[str, ...]:
    return tuple(name for name in (text or "").split(",") if name)


class CandidateNames:
    """Who may claim a task and who never may, split from the comma-separated columns (HumanTask, TaskRecord)."""

    @property
    def group_names(self: _NamedColumns) -> tuple[str, ...]:
        return split_names(self.candidate_groups)

    @property
    def user_names(self: _NamedColumns) -> tuple[str, ...]:
        return split_names(self.candidate_users)

    @property
    def excluded_names(self: _NamedColumns) -> tuple[str, ...]:
        return split_names(self.excluded_users)


class HumanTask(Base, CandidateNames):
    """A user or manual task: ready in SpiffWorkflow, or kept after it ended for history."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_assignee_status", "assignee", "status", "created_at"),
        Index("ix_human_task_status_created", "status", "created_at"),
        Index("ix_human_task_completed_by", "completed_by", "completed_at"),
        Index("ix_human_task_status_due", "status", "due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # the SpiffWorkflow task id
    instance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    # Never loaded (lazy="raise"); it tells the unit of work to insert the instance first.
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")
    process_key: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    task_name: Mapped[str] = mapped_column(String(256))  # BPMN element id
    title: Mapped[str] = mapped_column(String(512))
    form_key: Mapped[str | None] = mapped_column(String(128))
    lane: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(128))
    priority: Mapped[int] = mapped_column(Integer, default=50)
    due_at: Mapped[datetime | None]
    follow_up_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(128))
    # Delegation: the owner lent the task to the assignee, who resolves it back to the owner.
    owner: Mapped[str | None] = mapped_column(String(128))
    # SLA: warning from sla_warn_at; sla_breached_at is set once, when the due time passed, and stays;
    # while paused (waiting on the customer) the clock stops and resuming moves due_at by the pause.
    sla_warn_at: Mapped[datetime | None]
    sla_breached_at: Mapped[datetime | None]
    sla_paused_at: Mapped[datetime | None]
    # Who may claim, kept twice: comma-separated here for display and permission checks
    # without a join, and as task_candidate rows for the indexed queue query.
    candidate_groups: Mapped[str] = mapped_column(String(512), default="")
    candidate_users: Mapped[str] = mapped_column(String(512), default="")
    # Who may never take the task (``excludeUsers``: four eyes, e.g. the seller on a post-sale revisit).
    excluded_users: Mapped[str] = mapped_column(String(512), default="", server_default="")
    candidates: Mapped[list[TaskCandidate]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


# Task lists sorted by priority (highest first, then oldest; engine.services.task_queries) walk this index.
Index("ix_human_task_status_priority", HumanTask.status, HumanTask.priority.desc(), HumanTask.created_at)
TASK_COLUMNS = tuple(c.key for c in cast(Table, HumanTask.__table__).columns)


class TaskRecord(CandidateNames):
    """A human_task row as a plain object: read with a plain SELECT, or built for a plain INSERT.

    The same attribute names as :class:`HumanTask`, none of the ORM's instrumentation: building a HumanTask
    costs about 100 µs, this under 1, and the hot paths (open, claim, complete, a new task) build one each.
    Every column is an attribute (None unless given); ``candidates`` holds (kind, name) pairs for a new task.
    Nothing is written back from it except by the statements of ``engine.runtime.rows``.
    """

    # The columns of human_task, as on HumanTask (tests/unit/test_task_rows.py keeps the two lists equal).
    id: uuid.UUID
    instance_id: uuid.UUID
    process_key: str
    customer_id: str | None
    task_name: str
    title: str
    form_key: str | None
    lane: str | None
    status: str
    assignee: str | None
    priority: int
    due_at: datetime | None
    follow_up_at: datetime | None
    created_at: datetime
    claimed_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    owner: str | None
    sla_warn_at: datetime | None
    sla_breached_at: datetime | None
    sla_paused_at: datetime | None
    candidate_groups: str
    candidate_users: str
    excluded_users: str
    candidates: list[tuple[str, str]]  # a new task's (kind, name) candidate rows

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(dict.fromkeys(TASK_COLUMNS), **values)


TaskLike = HumanTask | TaskRecord

INSTANCE_COLUMNS = tuple(c.key for c in cast(Table, ProcessInstance.__table__).columns)


class InstanceRecord:
    """A process_instance row as a plain object (the step's instance: read with a plain SELECT, written by the
    statements of ``engine.runtime.rows``). Building a ProcessInstance through the ORM costs about 180 µs, this
    about 1, and every step builds one."""

    id: uuid.UUID
    definition_id: int
    process_key: str
    business_key: str | None
    customer_id: str | None
    status: str
    state: str
    state_version: int
    revision: int
    started_by: str
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    error_message: str | None
    error_task: str | None
    error_details: dict[str, Any] | None
    audit_head: str | None
    archived_at: datetime | None

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(dict.fromkeys(INSTANCE_COLUMNS), **values)


InstanceLike = ProcessInstance | InstanceRecord


class Comment(Base):
    __tablename__ = "task_comment"
    __table_args__ = (Index("ix_task_comment_instance", "instance_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class Attachment(Base):
    """Metadata of an uploaded file; the bytes live in the attachment store (content-addressed), not here."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_instance", "instance_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    filename: Mapped[str] = mapped_column(String(256))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]


class RoutingState(Base):
    """Round-robin position per candidate group: who got the last task."""

    __tablename__ = "routing_state"

    group: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_assignee: Mapped[str | None] = mapped_column(String(128))


class TaskCandidate(Base):
    """Who may claim a task: a group, a user, or ``any``/``*`` (every staff member) when it names nobody.

    The task's status and creation time are copied here so that a queue page is one ordered index
    range per group the clerk is in (``kind, name, status, created_at, task_id``), whatever the
    number of other teams' open tasks. ``status`` follows the task's (see the listener below).
    """

    __tablename__ = "task_candidate"
    __table_args__ = (Index("ix_task_candidate_queue", "kind", "name", "status", "created_at", "task_id"),)

    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class Timer(Base):
    __tablename__ = "timer"
    __table_args__ = (
        UniqueConstraint("instance_id", "spiff_task_id"),
        Index("ix_timer_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    # Never loaded (lazy="raise"); it tells the unit of work to insert the instance first.
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(256))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    fired_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class MessageSubscription(Base):
    """An instance waiting for a message; routed by name + the hash of its correlation values."""

    __tablename__ = "message_subscription"
    __table_args__ = (
        UniqueConstraint("instance_id", "spiff_task_id", "name"),
        Index("ix_message_subscription_route", "name", "correlation_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    # Never loaded (lazy="raise"); it tells the unit of work to insert the instance first.
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(256))
    correlation: Mapped[dict[str, Any]] = mapped_column(JSON)
    correlation_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class InboundMessage(Base):
    """Every accepted inbound message once: a second delivery with the same id is a no-op."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("source", "message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(256))
    received_at: Mapped[datetime]
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditEvent(Base):
    """Append-only, hash-chained per stream; (stream, prev_hash) is unique, so a chain cannot fork."""

    __tablename__ = "audit_event"
    __table_args__ = (
        UniqueConstraint("stream", "prev_hash"),
        Index("ix_audit_event_stream_id", "stream", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stream: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(256))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    roles: Mapped[str] = mapped_column(String(256))  # comma-separated, from ROLES
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # Login lockout: after repeated failures the account waits until locked_until (audited).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    # Routing: comma-separated skills for skills-based assignment; absent users get no new work.
    skills: Mapped[str] = mapped_column(String(512), default="")
    absent_until: Mapped[datetime | None]
    # Optional second factor (engine.services.second_factor): the TOTP secret, encrypted; the last accepted step.
    totp_secret: Mapped[str | None] = mapped_column(String(256))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    groups: Mapped[list[Group]] = relationship(secondary="group_membership", lazy="selectin", order_by="Group.name")


class Group(Base):
    __tablename__ = "app_group"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)


class GroupMembership(Base):
    __tablename__ = "group_membership"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("app_group.id", ondelete="CASCADE"), primary_key=True)


class ApiToken(Base):
    """API tokens are stored as SHA-256 hashes; the token itself is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]  # written at most once a minute
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # settings.sessions.token_ttl_days after creation
    # A token of someone with a privileged role counts only once a second administrator approved it.
    awaiting_approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
