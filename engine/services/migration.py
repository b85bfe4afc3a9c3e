"""Migrating running instances from one deployed version of a process to another.

A dry run lists, for every running (or failed) instance of the process on another version, each
task it waits in and whether the target version has the same element with the same kind of
task; nothing changes. Executing migrates each compatible instance in its own transaction
(locked, moved, stored, its task rows refreshed, an ``instance.migrated`` audit event with the
from/to versions); an incompatible instance is reported and left exactly as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import authz
from engine.bpmn.loader import ParsedBundle
from engine.context import EngineContext
from engine.db.models import InstanceStatus, ProcessDefinition, ProcessInstance
from engine.db.session import unit_of_work
from engine.errors import EngineError, InvalidInputError
from engine.runtime import instance as runtime
from engine.runtime import migration as moving
from engine.runtime import step as steps
from engine.services import approvals
from engine.services.authz import require_role
from engine.services.definitions import latest_version
from engine.views import Actor

LIVE = (InstanceStatus.RUNNING.value, InstanceStatus.ERROR.value)
MAX_INSTANCES = 500  # per dry run or execution; ask again for the rest


@dataclass(frozen=True)
class InstanceMigration:
    instance_id: str
    business_key: str | None
    from_version: int
    to_version: int
    status: str
    compatible: bool
    tasks: tuple[moving.TaskMapping, ...]
    problems: tuple[str, ...]
    migrated: bool = False


@dataclass(frozen=True)
class MigrationReport:
    process_key: str
    to_version: int
    instances: tuple[InstanceMigration, ...]
    approval_id: int | None = None  # the migration waits for a second person; ``instances`` is its dry run

    @property
    def compatible(self) -> int:
        return sum(1 for i in self.instances if i.compatible)


def _candidates(session: Session, key: str, target_id: int, from_version: int | None,
                instance_ids: Sequence[uuid.UUID] | None) -> list[tuple[uuid.UUID, int]]:
    stmt = (
        select(ProcessInstance.id, ProcessDefinition.version)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessInstance.process_key == key, ProcessInstance.status.in_(LIVE),
               ProcessInstance.definition_id != target_id)
        .order_by(ProcessInstance.started_at, ProcessInstance.id).limit(MAX_INSTANCES)
    )
    if from_version is not None:
        stmt = stmt.where(ProcessDefinition.version == from_version)
    if instance_ids is not None:
        stmt = stmt.where(ProcessInstance.id.in_(list(instance_ids)))
    return [(row[0], int(row[1])) for row in session.execute(stmt)]


def _parse_ids(values: Sequence[str] | None) -> list[uuid.UUID] | None:
    if values is None:
        return None
    try:
        return [uuid.UUID(str(v)) for v in values]
    except ValueError as exc:
        raise InvalidInputError(f"instance ids must be UUIDs: {exc}") from exc


def plan_migration(
    ctx: EngineContext, *, process_key: str, actor: Actor, to_version: int | None = None,
    from_version: int | None = None, instance_ids: Sequence[str] | None = None,
) -> MigrationReport:
    """Dry run: which instances and tasks map onto ``to_version`` (default: the latest), and which cannot.

    Changes nothing. Raises DefinitionNotFoundError, InvalidInputError, PermissionDeniedError.
    """
    require_role(actor, "designer", "supervisor")
    authz.require(ctx, actor, "inspect", "process", process_key)
    ids = _parse_ids(instance_ids)
    with unit_of_work(ctx.sessions, write=False) as session:
        target_id, target_version = latest_version(session, process_key, to_version)
        target = runtime.load_bundle(ctx, session, target_id)
        results = []
        for instance_id, version in _candidates(session, process_key, target_id, from_version, ids):
            row = session.get(ProcessInstance, instance_id)
            assert row is not None
            workflow = runtime.restore(ctx, session, row, ctx.clock)
            found = moving.check(workflow, target)
            results.append(InstanceMigration(str(row.id), row.business_key, version, target_version, row.status,
                                             found.compatible, found.tasks, found.problems))
        return MigrationReport(process_key, target_version, tuple(results))


def plan_onto_bundle(ctx: EngineContext, session: Session, process_key: str, target: ParsedBundle,
                     target_version: int) -> tuple[InstanceMigration, ...]:
    """Dry run onto a version not deployed yet (the deploy confirmation): every live instance of the process, each
    checked against ``target``. The caller has checked the actor's rights; changes nothing."""
    results = []
    for instance_id, version in _candidates(session, process_key, -1, None, None):
        row = session.get(ProcessInstance, instance_id)
        assert row is not None
        try:
            workflow = runtime.restore(ctx, session, row, ctx.clock)
        except EngineError as exc:
            results.append(InstanceMigration(str(row.id), row.business_key, version, target_version, row.status,
                                             False, (), (exc.message,)))
            continue
        found = moving.check(workflow, target)
        results.append(InstanceMigration(str(row.id), row.business_key, version, target_version, row.status,
                                         found.compatible, found.tasks, found.problems))
    return tuple(results)


def migrate_instances(
    ctx: EngineContext, *, process_key: str, actor: Actor, to_version: int | None = None,
    from_version: int | None = None, instance_ids: Sequence[str] | None = None,
) -> MigrationReport:
    """Move every compatible instance onto ``to_version``, one transaction per instance.

    Incompatible instances are reported (``migrated=False``) and left untouched. Each migration
    is audited on the instance's stream with the from and to versions. Moving live instances needs a second
    person's approval: the report then carries the dry run and ``approval_id``, and the move happens when the
    checker approves (engine.services.approvals). Raises DefinitionNotFoundError, InvalidInputError,
    PermissionDeniedError.
    """
    require_role(actor, "designer")
    authz.require(ctx, actor, "migrate", "process", process_key)
    ids = _parse_ids(instance_ids)
    if approvals.needed(ctx, actor):
        plan = plan_migration(ctx, process_key=process_key, actor=actor, to_version=to_version,
                              from_version=from_version, instance_ids=instance_ids)
        if not plan.compatible:
            return plan  # nothing would move: nothing to approve
        approval = approvals.request_approval(
            ctx, kind="migration", subject=process_key, actor=actor,
            payload={"process_key": process_key, "to_version": plan.to_version, "from_version": from_version,
                     "instance_ids": [i.instance_id for i in plan.instances if i.compatible]},
            summary=f"{process_key}: move {plan.compatible} of {len(plan.instances)} live instances to "
                    f"v{plan.to_version}")
        return MigrationReport(process_key, plan.to_version, plan.instances, approval_id=approval.id)
    return _execute(ctx, process_key, actor, to_version, from_version, ids)


def _execute(ctx: EngineContext, process_key: str, actor: Actor, to_version: int | None, from_version: int | None,
             ids: list[uuid.UUID] | None, *, approved_by: str | None = None) -> MigrationReport:
    with unit_of_work(ctx.sessions, write=False) as session:
        target_id, target_version = latest_version(session, process_key, to_version)
        candidates = _candidates(session, process_key, target_id, from_version, ids)
    results = [_migrate_one(ctx, instance_id, target_id, target_version, actor, approved_by)
               for instance_id, _ in candidates]
    return MigrationReport(process_key, target_version, tuple(r for r in results if r is not None))


def _migrate_approved(ctx: EngineContext, view: approvals.ApprovalView, approver: Actor) -> dict[str, Any]:
    payload = view.payload
    requester = Actor(view.requested_by, frozenset({"designer"}))  # moves are recorded as the designer's, approved
    report = _execute(ctx, payload["process_key"], requester, payload["to_version"], payload["from_version"],
                      _parse_ids(payload["instance_ids"]), approved_by=approver.username)
    return {"to_version": report.to_version, "migrated": sum(1 for i in report.instances if i.migrated),
            "requested_by": view.requested_by}


def _migrate_one(ctx: EngineContext, instance_id: uuid.UUID, target_id: int, target_version: int,
                 actor: Actor, approved_by: str | None = None) -> InstanceMigration | None:

    def act(step: steps.Step) -> InstanceMigration | None:
        row = step.instance
        if row.status not in LIVE or row.definition_id == target_id:
            return None  # ended or moved by someone else since the list was read
        assert step.session is not None
        version = int(step.session.scalar(select(ProcessDefinition.version).where(
            ProcessDefinition.id == row.definition_id)) or 0)
        target = runtime.load_bundle(ctx, step.session, target_id)
        found = moving.check(step.workflow, target)
        result = InstanceMigration(str(row.id), row.business_key, version, target_version, row.status,
                                   found.compatible, found.tasks, found.problems)
        if not found.compatible:
            return result
        moved = moving.migrate(step.workflow, target)
        step.adopt(moved, target_id)
        if row.status == InstanceStatus.ERROR.value:  # still failed: a supervisor retries it on the new version
            details = row.error_details or {}
            step.keep_failure(runtime.StepFailure(row.error_message or "", row.error_task, details.get("task_id"),
                                                  details.get("line"), details.get("error_type")))
        else:
            step.run()
        step.write(lambda session: moving.refresh_task_rows(session, row, moved))
        step.audit("instance.migrated", actor=actor.username, before={"version": version},
                   after={"version": target_version, "tasks": [t.element_id for t in found.tasks],
                          **({"approved_by": approved_by} if approved_by else {})})
        return InstanceMigration(result.instance_id, result.business_key, version, target_version, step.status,
                                 True, found.tasks, (), migrated=True)

    return steps.on_instance(ctx, instance_id, act)


approvals.register("migration", checker=lambda view: ("approve", "process", view.subject), execute=_migrate_approved)
