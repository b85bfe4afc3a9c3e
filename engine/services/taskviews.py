"""Turning human_task rows into TaskViews (shared by the task and instance services)."""

from __future__ import annotations

from typing import Any

from engine.db.models import TaskLike
from engine.runtime.lifecycle import allowed_actions, sla_actions
from engine.views import Actor, TaskView


def task_view(
    row: TaskLike, actor: Actor, *, form: dict[str, Any] | None = None, data: dict[str, Any] | None = None
) -> TaskView:
    return TaskView(
        id=str(row.id), instance_id=str(row.instance_id), process_key=row.process_key, task_name=row.task_name,
        title=row.title, status=row.status, assignee=row.assignee,
        candidate_groups=row.group_names, candidate_users=row.user_names,
        priority=row.priority, form_key=row.form_key, lane=row.lane, customer_id=row.customer_id,
        due_at=row.due_at, created_at=row.created_at, claimed_at=row.claimed_at, completed_at=row.completed_at,
        completed_by=row.completed_by, actions=allowed_actions(actor, row) + sla_actions(actor, row), form=form, data=data,
        sla_warn_at=row.sla_warn_at, sla_breached_at=row.sla_breached_at, sla_paused_at=row.sla_paused_at,
        owner=row.owner, follow_up_at=row.follow_up_at,
    )
