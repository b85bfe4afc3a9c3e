"""Migrating running instances between versions: dry run, atomic move, untouched when incompatible."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy import select

from engine.context import build_engine
from engine.db.models import AuditEvent, HumanTask, ProcessInstance
from engine.errors import PermissionDeniedError
from engine.services import instances, migration, tasks
from engine.views import SYSTEM
from tests.conftest import _truncate
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks

GROUP = {"candidateGroups": "service_team"}


@pytest.fixture
def ctx(settings, db, clock):
    """The migration mechanics with maker-checker off: the approval path is tests/security/test_maker_checker.py."""
    yield build_engine(replace(settings, security=replace(settings.security, four_eyes_changes=False)), clock=clock, db=db)
    _truncate(db)


def _v1() -> bytes:
    return b.linear("req", b.user_task("review", "审核 Review", **GROUP))


def _v2_compatible() -> bytes:
    """review keeps its id and kind; an approval step is added after it."""
    return b.linear("req", b.user_task("review", "审核 Review v2", **GROUP, priority="80"),
                    b.user_task("approve", "审批 Approve", **GROUP))


def _v2_incompatible() -> bytes:
    """review is gone (renamed to check): an instance waiting in review has nowhere to go."""
    return b.linear("req", b.user_task("check", "检查 Check", **GROUP))


def _stored(ctx, instance_id: str) -> tuple[int, str, str | None]:
    with ctx.sessions() as session:
        row = session.get(ProcessInstance, uuid.UUID(instance_id))
        return row.definition_id, row.state, row.audit_head


def _migration_events(ctx, instance_id: str) -> list[AuditEvent]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.stream == f"instance:{instance_id}", AuditEvent.action == "instance.migrated")))


def test_compatible_change_migrates_keeps_the_claim_and_the_instance_completes(ctx, people, clock):
    v1 = deploy(ctx, ("req.bpmn", _v1()))
    started = instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    v2 = deploy(ctx, ("req.bpmn", _v2_compatible()))

    plan = migration.plan_migration(ctx, process_key="req", actor=people["dora"])
    [entry] = plan.instances
    assert (entry.instance_id, entry.from_version, entry.to_version, entry.compatible) == (started.id, 1, 2, True)
    assert [(t.element_id, t.kind, t.state, t.maps) for t in entry.tasks] == [("review", "UserTask", "ready", True)]
    assert _stored(ctx, started.id)[0] == v1.id  # a dry run changes nothing

    done = migration.migrate_instances(ctx, process_key="req", actor=people["dora"])
    assert [(i.instance_id, i.migrated) for i in done.instances] == [(started.id, True)]
    assert _stored(ctx, started.id)[0] == v2.id
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).definition_version == 2
    [event] = _migration_events(ctx, started.id)
    assert (event.actor, event.before, event.after["version"]) == ("dora", {"version": 1}, 2)
    [same] = open_tasks(ctx, started.id)
    assert (same.id, same.status, same.assignee, same.title) == (task.id, "claimed", "alice", "审核 Review v2")

    tasks.complete_task(ctx, task.id, actor=people["alice"], data={})
    [approve] = open_tasks(ctx, started.id)
    assert approve.task_name == "approve"  # only version 2 has this step
    claim_and_complete(ctx, approve.id, people["bob"])
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).status == "completed"


def test_incompatible_change_is_reported_and_the_instance_left_untouched(ctx, people):
    v1 = deploy(ctx, ("req.bpmn", _v1()))
    started = instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    before = _stored(ctx, started.id)
    deploy(ctx, ("req.bpmn", _v2_incompatible()))

    [entry] = migration.plan_migration(ctx, process_key="req", actor=people["sam"]).instances
    assert entry.compatible is False
    [mapping] = entry.tasks
    assert (mapping.element_id, mapping.maps) == ("review", False)
    assert mapping.reason == "no element with this id in the target version"

    [result] = migration.migrate_instances(ctx, process_key="req", actor=people["dora"]).instances
    assert (result.migrated, result.compatible) == (False, False)
    assert _stored(ctx, started.id) == before
    assert before[0] == v1.id
    assert _migration_events(ctx, started.id) == []
    [still] = open_tasks(ctx, started.id)
    assert still.task_name == "review"
    claim_and_complete(ctx, still.id, people["alice"])  # it runs on to the end on version 1
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).status == "completed"


def test_a_task_that_changed_kind_does_not_map(ctx, people):
    deploy(ctx, ("req.bpmn", _v1()))
    started = instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    deploy(ctx, ("req.bpmn", b.linear("req", '<bpmn:manualTask id="review" name="Review"/>')))
    [entry] = migration.plan_migration(ctx, process_key="req", actor=people["dora"]).instances
    [mapping] = entry.tasks
    assert (mapping.maps, mapping.reason) == (False, "it is a ManualTask in the target version")
    assert entry.instance_id == started.id


def test_a_removed_step_already_taken_blocks_the_migration(ctx, people):
    deploy(ctx, ("req.bpmn", b.linear("req", b.script_task("prepare", "x = 1"), b.user_task("review", **GROUP))))
    started = instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    deploy(ctx, ("req.bpmn", _v1()))  # no prepare step any more
    [entry] = migration.plan_migration(ctx, process_key="req", actor=people["dora"]).instances
    assert [t.maps for t in entry.tasks] == [True]
    assert entry.compatible is False
    assert "'prepare'" in entry.problems[0]
    assert migration.migrate_instances(ctx, process_key="req", actor=people["dora"]).instances[0].migrated is False
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).definition_version == 1


def test_only_designers_migrate_and_supervisors_may_look(ctx, people):
    deploy(ctx, ("req.bpmn", _v1()))
    instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    deploy(ctx, ("req.bpmn", _v2_compatible()))
    for name in ("alice", "sam"):
        with pytest.raises(PermissionDeniedError):
            migration.migrate_instances(ctx, process_key="req", actor=people[name])
    with pytest.raises(PermissionDeniedError):
        migration.plan_migration(ctx, process_key="req", actor=people["alice"])
    assert len(migration.plan_migration(ctx, process_key="req", actor=people["sam"]).instances) == 1
    with ctx.sessions() as session:
        assert session.scalar(select(HumanTask.process_key)) == "req"


def test_selected_instances_only(ctx, people):
    deploy(ctx, ("req.bpmn", _v1()))
    first, second = (instances.start_instance(ctx, process_key="req", actor=SYSTEM) for _ in range(2))
    deploy(ctx, ("req.bpmn", _v2_compatible()))
    done = migration.migrate_instances(ctx, process_key="req", actor=people["dora"], instance_ids=[second.id])
    assert [i.instance_id for i in done.instances] == [second.id]
    assert instances.get_instance(ctx, first.id, actor=SYSTEM).definition_version == 1
    assert instances.get_instance(ctx, second.id, actor=SYSTEM).definition_version == 2
