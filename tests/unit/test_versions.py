"""Suspending, retiring and resuming a process version: no new instances, running ones go on, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.context import EngineContext
from engine.db.models import AuditEvent
from engine.db.session import unit_of_work
from engine.errors import ConflictError, DefinitionSuspendedError, PermissionDeniedError
from engine.services import definitions, instances, versions
from engine.views import SYSTEM, Actor
from tests.support.bpmn import definitions as bpmn
from tests.support.bpmn import end, flow, start, user_task
from tests.support.engine import DESIGNER, claim_and_complete, deploy, open_tasks

XML = bpmn("lifecycle_demo", [start(), user_task("work"), end()], [flow("start", "work"), flow("work", "end")])
ADMIN = Actor("root", frozenset({"admin"}))


def test_suspended_version_starts_nothing_but_its_instances_run_on(ctx: EngineContext) -> None:
    deploy(ctx, ("lifecycle_demo.bpmn", XML))
    running = instances.start_instance(ctx, process_key="lifecycle_demo", actor=SYSTEM)
    view = versions.suspend(ctx, "lifecycle_demo", 1, actor=DESIGNER)
    assert view.status == "suspended"
    with pytest.raises(DefinitionSuspendedError) as refused:
        instances.start_instance(ctx, process_key="lifecycle_demo", actor=SYSTEM)
    assert refused.value.details == {"process_key": "lifecycle_demo", "version": 1, "status": "suspended"}
    assert "suspended" in refused.value.message
    task = open_tasks(ctx, running.id)[0]
    claim_and_complete(ctx, task.id, ADMIN)
    assert instances.get_instance(ctx, running.id, actor=SYSTEM).status == "completed"

    assert versions.resume(ctx, "lifecycle_demo", 1, actor=DESIGNER).status == "active"
    assert instances.start_instance(ctx, process_key="lifecycle_demo", actor=SYSTEM).status == "running"
    with unit_of_work(ctx.sessions, write=False) as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.stream == "definition:lifecycle_demo")
                                  .order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["definition.suspended", "definition.resumed"]


def test_retire_is_refused_with_the_number_of_live_instances(ctx: EngineContext) -> None:
    deploy(ctx, ("lifecycle_demo.bpmn", XML))
    first = instances.start_instance(ctx, process_key="lifecycle_demo", actor=SYSTEM)
    instances.start_instance(ctx, process_key="lifecycle_demo", actor=SYSTEM)
    with pytest.raises(ConflictError) as refused:
        versions.retire(ctx, "lifecycle_demo", 1, actor=DESIGNER)
    assert refused.value.details == {"live_instances": 2}
    assert definitions.get_definition(ctx, "lifecycle_demo").status == "active"
    instances.cancel_instance(ctx, first.id, actor=ADMIN, reason="test")
    with pytest.raises(ConflictError) as still:
        versions.retire(ctx, "lifecycle_demo", 1, actor=DESIGNER)
    assert still.value.details == {"live_instances": 1}


def test_retired_when_nothing_is_live_and_only_designers_change_it(ctx: EngineContext) -> None:
    deploy(ctx, ("lifecycle_demo.bpmn", XML))
    with pytest.raises(PermissionDeniedError):
        versions.suspend(ctx, "lifecycle_demo", 1, actor=Actor("sam", frozenset({"supervisor"})))
    assert versions.retire(ctx, "lifecycle_demo", 1, actor=ADMIN).status == "retired"
    with pytest.raises(DefinitionSuspendedError) as refused:
        instances.start_instance(ctx, process_key="lifecycle_demo", actor=SYSTEM, version=1)
    assert "retired" in refused.value.message
    assert [v.status for v in definitions.list_definitions(ctx)] == ["retired"]
