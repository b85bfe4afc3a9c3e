"""History time-to-live with the injected clock: a day before and a day after each period, legal holds, an open
complaint of the same customer, the AML years after a relationship ends, and what archiving keeps and drops."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit_check import verify_all
from engine.context import build_engine
from engine.customers.models import Customer
from engine.db.casefile import TaskSubmission
from engine.db.models import Attachment, AuditEvent, Comment, HumanTask, ProcessInstance
from engine.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from engine.services import collaboration, instances, retention
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks

DAY = timedelta(days=1)


@pytest.fixture
def short(ctx, settings, clock):
    """Time-to-live 30 days by default, 10 for ``greeting``, AML processes: ``kyc``."""
    rules = replace(settings.retention, history_days=30, history_by_process=(("greeting", 10),),
                    aml_processes=("kyc",), aml_kyc_years=10)
    engine = build_engine(replace(settings, retention=rules), clock=clock, db=ctx.db)
    for key in ("letter", "greeting", "kyc", "complaint_handling"):
        deploy(engine, (f"{key}.bpmn", b.simple_task_process(key)))
    return engine


def _finish(ctx, people, key: str, customer: str | None = None, *, attach: bool = False):
    started = instances.start_instance(ctx, process_key=key, actor=SYSTEM, customer_id=customer)
    task = open_tasks(ctx, str(started.id))[0]
    if attach:
        collaboration.add_attachment(ctx, task.id, actor=people["alice"], filename="id.pdf", content=b"%PDF-1.4 id")
        collaboration.add_comment(ctx, task.id, actor=people["alice"], text="林晓雯 called back")
    claim_and_complete(ctx, task.id, people["alice"], {"note": "checked"})
    if attach:  # as a completion through a form leaves it (engine.casefile.submissions)
        with Session(ctx.db) as session, session.begin():
            session.add(TaskSubmission(instance_id=uuid.UUID(str(started.id)), task_id=uuid.UUID(str(task.id)),
                                       element_id="review", form_key="f", data_sealed="sealed", submitted_by="alice",
                                       submitted_at=ctx.clock.now()))
    return str(started.id)


def _archived(ctx) -> set:
    with Session(ctx.db) as session:
        return {str(i) for i in session.scalars(select(ProcessInstance.id)
                                                .where(ProcessInstance.archived_at.is_not(None)))}


def test_each_process_is_archived_the_day_after_its_time_to_live_not_the_day_before(short, people, clock):
    review = _finish(short, people, "letter")
    care = _finish(short, people, "greeting")
    clock.advance(10 * DAY - timedelta(seconds=1))
    assert retention.run(short).archived == 0
    clock.advance(timedelta(seconds=2))
    assert retention.run(short).by_process == {"greeting": 1} and _archived(short) == {care}
    clock.advance(20 * DAY - timedelta(seconds=2))
    assert retention.run(short, dry_run=True).archived == 0
    clock.advance(timedelta(seconds=2))
    assert retention.run(short, dry_run=True).by_process == {"letter": 1}
    assert _archived(short) == {care}  # a dry run changes nothing
    assert retention.run(short).archived == 1 and _archived(short) == {care, review}
    assert retention.run(short).archived == 0  # once


def test_archiving_drops_the_customer_s_data_and_keeps_the_summary_and_a_verifiable_chain(short, people, clock):
    kept = _finish(short, people, "letter", "K1", attach=True)
    archived = _finish(short, people, "greeting", "K2", attach=True)  # the same file: the store keeps one copy
    clock.advance(11 * DAY)
    report = retention.run(short)
    assert report.archived == 1 and report.files_deleted == 0  # the other case still names the file
    with Session(short.db) as session:
        row = session.get(ProcessInstance, uuid.UUID(archived))
        assert (row.state, row.status, row.customer_id, row.process_key) == ("", "completed", "K2", "greeting")
        for table in (TaskSubmission, Comment, Attachment):
            assert session.scalar(select(func.count()).select_from(table).where(table.instance_id == uuid.UUID(archived))) == 0
            assert session.scalar(select(func.count()).select_from(table).where(table.instance_id == uuid.UUID(kept))) >= 1
        assert session.scalar(select(HumanTask.title).where(HumanTask.instance_id == uuid.UUID(archived))) == "Review request"
        tombstone = session.scalars(select(AuditEvent).where(AuditEvent.stream == f"instance:{archived}")
                                    .order_by(AuditEvent.id.desc())).first()
        assert tombstone.action == "instance.archived" and row.audit_head == tombstone.hash
        assert tombstone.after["checkpoint"] == tombstone.prev_hash
        assert tombstone.after["removed"] == {"form_submissions": 1, "comments": 1, "attachments": 1}
        assert "林晓雯" not in str(tombstone.after) and verify_all(session).ok
    summary = instances.get_instance(short, archived, actor=people["sam"])  # the summary still shows
    assert summary.status == "completed" and summary.open_tasks == []
    with Session(short.db) as session:
        digest = session.scalar(select(Attachment.sha256).where(Attachment.instance_id == uuid.UUID(kept)))
    stored = short.settings.uploads.dir / digest[:2] / digest
    assert stored.exists()
    clock.advance(30 * DAY)
    assert retention.run(short).files_deleted == 1 and not stored.exists()  # the last case naming it went


def test_holds_and_an_open_complaint_keep_instances_until_released(short, people, clock):
    held = _finish(short, people, "letter", "K1")
    of_customer = _finish(short, people, "letter", "K2")
    disputed = _finish(short, people, "letter", "K3")
    instances.start_instance(short, process_key="complaint_handling", actor=SYSTEM, customer_id="K3")  # open
    by_process = _finish(short, people, "greeting", "K4")
    hold = retention.place_hold(short, "instance", str(held), reason="court order 2025-17", actor=people["sam"])
    retention.place_hold(short, "customer", "K2", reason="AML investigation", actor=people["sam"])
    retention.place_hold(short, "process", "greeting", reason="regulator inspection", actor=people["sam"])
    clock.advance(31 * DAY)
    assert retention.run(short).archived == 0
    retention.release_hold(short, hold.id, actor=people["sam"])
    assert _archived(short) == set() and retention.run(short).archived == 1 and _archived(short) == {held}
    assert {h.subject_id for h in retention.active_holds(short)} == {"K2", "greeting"}
    assert disputed not in _archived(short) and of_customer not in _archived(short)
    assert by_process not in _archived(short)
    with pytest.raises(PermissionDeniedError):
        retention.place_hold(short, "customer", "K9", reason="x", actor=people["alice"])
    with pytest.raises(InvalidInputError):
        retention.place_hold(short, "branch", "B1", reason="x", actor=people["sam"])
    with pytest.raises(NotFoundError):
        retention.release_hold(short, hold.id, actor=people["sam"])  # already released


def test_aml_records_stay_ten_years_after_the_relationship_ended(short, people, clock):
    now = clock.now()
    with Session(short.db) as session, session.begin():
        session.add(Customer(id="K1", status="active", created_at=now, updated_at=now))
    kyc = _finish(short, people, "kyc", "K1")
    clock.advance(400 * DAY)
    assert retention.run(short).archived == 0  # the relationship lasts
    with Session(short.db) as session, session.begin():
        session.get(Customer, "K1").status, session.get(Customer, "K1").updated_at = "closed", clock.now()
    clock.advance(timedelta(days=3653) - DAY)
    assert retention.run(short).archived == 0
    clock.advance(2 * DAY)
    assert retention.run(short).archived == 1 and _archived(short) == {kyc}
