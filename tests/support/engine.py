"""Helpers to drive the engine services in tests."""

from __future__ import annotations

from engine.context import EngineContext
from engine.services import approvals, definitions, tasks
from engine.views import SYSTEM, Actor, DefinitionView, TaskView
from tests.support.bpmn import files

DESIGNER = Actor("designer-bot", frozenset({"designer"}))
CHECKER = Actor("checker-bot", frozenset({"designer"}))  # the second person a version with live instances needs


def deploy(ctx: EngineContext, *pairs: tuple[str, bytes], process_key: str | None = None) -> DefinitionView:
    """Deploy as a designer; a new version of a process with live instances is approved by a second designer."""
    result = definitions.deploy_definition(ctx, files=files(*pairs), actor=DESIGNER, process_key=process_key)
    assert result is not None
    if result.approval_id is not None:
        approvals.approve(ctx, result.approval_id, actor=CHECKER)
        return definitions.get_definition(ctx, result.definition.key)
    return result.definition


def open_tasks(ctx: EngineContext, instance_id: str) -> list[TaskView]:
    from engine.services.instances import get_instance

    return get_instance(ctx, instance_id, actor=SYSTEM).open_tasks


def claim_and_complete(ctx: EngineContext, task_id: str, actor: Actor, data: dict | None = None) -> TaskView:
    tasks.claim_task(ctx, task_id, actor=actor)
    return tasks.complete_task(ctx, task_id, actor=actor, data=data or {})
