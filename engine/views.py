"""Frozen result objects returned by the engine services (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ROLES = ("staff", "supervisor", "designer", "compliance", "admin")


@dataclass(frozen=True)
class Actor:
    """Who is calling: a user with roles and groups, or the system (scheduler, integrations)."""

    username: str
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)

    @property
    def is_supervisor(self) -> bool:
        return self.has_role("supervisor")


SYSTEM = Actor("system", frozenset({"admin"}))


@dataclass(frozen=True)
class DefinitionView:
    id: int
    key: str
    version: int
    name: str
    sha256: str
    deployed_by: str
    deployed_at: datetime
    files: tuple[str, ...] = ()
    instance_count: int | None = None
    status: str = "active"  # active | suspended | retired (engine.services.versions)


@dataclass(frozen=True)
class DeployResult:
    definition: DefinitionView  # the new version; while it awaits approval, the version still in force
    created: bool  # False when identical bytes were already the latest version, or when it awaits approval
    approval_id: int | None = None  # a second person must approve it first (live instances on the key)


@dataclass(frozen=True)
class TaskView:
    id: str
    instance_id: str
    process_key: str
    task_name: str
    title: str
    status: str
    assignee: str | None
    candidate_groups: tuple[str, ...]
    candidate_users: tuple[str, ...]
    priority: int
    form_key: str | None
    lane: str | None
    customer_id: str | None
    due_at: datetime | None
    created_at: datetime
    claimed_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    actions: tuple[str, ...] = ()
    sla_warn_at: datetime | None = None
    sla_breached_at: datetime | None = None
    sla_paused_at: datetime | None = None
    owner: str | None = None
    follow_up_at: datetime | None = None
    form: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class TaskPage:
    items: list[TaskView]
    next_cursor: str | None
    count: int | None = None  # tasks of all pages, up to tasks.COUNT_CAP (only when asked for: list_tasks(count=True))
    count_capped: bool | None = None  # more than COUNT_CAP


@dataclass(frozen=True)
class TimerView:
    name: str
    due_at: datetime
    status: str


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    details: dict[str, Any] | None


@dataclass(frozen=True)
class InstanceView:
    id: str
    process_key: str
    definition_version: int
    business_key: str | None
    customer_id: str | None
    status: str
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    error: dict[str, Any] | None
    open_tasks: list[TaskView] = field(default_factory=list)
    timers: list[TimerView] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class MessageResult:
    message_id: str
    status: str  # "delivered"
    instance_ids: tuple[str, ...]
    duplicate: bool = False


@dataclass(frozen=True)
class CommentView:
    id: int
    task_id: str | None
    author: str
    text: str
    at: datetime


@dataclass(frozen=True)
class AttachmentView:
    id: int
    task_id: str | None
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    at: datetime


@dataclass(frozen=True)
class OutboxView:
    id: int
    idempotency_key: str
    instance_id: str | None
    customer_id: str | None
    channel: str
    purpose: str
    template: str
    status: str
    reason: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class BulkStart:
    started: tuple[str, ...]  # new instance ids
    skipped: tuple[str, ...]  # business keys that already had an instance


@dataclass(frozen=True)
class TimerSweep:
    fired: int
    failed: int
    instances: tuple[str, ...]


@dataclass(frozen=True)
class UserView:
    username: str
    display_name: str
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    active: bool
    skills: tuple[str, ...] = ()
    absent_until: datetime | None = None
    approval_id: int | None = None  # a change of privileged roles waiting for a second administrator
    locked_until: datetime | None = None  # an administrator's lock (identity.lock_user); far future: until unlocked
