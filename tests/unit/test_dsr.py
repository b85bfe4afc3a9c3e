"""Data-subject requests (PIPL Arts. 45 and 47): the lifecycle, the deadline in working days, who may see what, the
export, the holds that refuse a deletion, and the erasure that keeps the audit chain whole; the retention run's
anonymisation of customers past the AML years a day before and a day after."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit_check import verify_all
from engine.complaints.models import Complaint
from engine.context import build_engine
from engine.customers.models import Consent, Customer
from engine.customers.service import set_consent
from engine.db.models import AuditEvent, ProcessInstance
from engine.dsr import erasure, export
from engine.dsr import service as dsr
from engine.errors import ConflictError, CustomerNotFoundError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.outbox.models import OutboxMessage
from engine.services import identity, instances, retention
from engine.views import SYSTEM, Actor
from tests.support import bpmn as b
from tests.support.care import add_customers, customer
from tests.support.engine import claim_and_complete, deploy, open_tasks

DAY = timedelta(days=1)
LIN = "C-LIN"
WANG = "C-WANG"


def me(customer_id: str) -> Actor:
    return Actor(f"customer:{customer_id}", frozenset({"customer"}))


@pytest.fixture
def officer(ctx) -> Actor:
    identity.create_user(ctx, username="cora", roles=["compliance"], groups=[], password="correct horse 1")
    return identity.get_actor(ctx, "cora")


@pytest.fixture
def two(ctx):
    add_customers(ctx, customer(LIN, name="林晓雯", phone="13800000001", email="lin@example.cn",
                                id_number="11010519880229002X"),
                  customer(WANG, name="王小明", phone="13800000002"))
    set_consent(ctx, LIN, channel="all", purpose="marketing", granted=True, source="branch", actor=SYSTEM)
    return ctx


def _close(ctx, customer_id: str, on: datetime) -> None:
    """The core-banking import closes the relationship on ``on`` (its last change)."""
    with Session(ctx.db) as session, session.begin():
        row = session.get(Customer, customer_id)
        row.status, row.updated_at = "closed", on


def _finish(ctx, people, key: str, customer_id: str) -> str:
    started = instances.start_instance(ctx, process_key=key, actor=SYSTEM, customer_id=customer_id)
    task = open_tasks(ctx, str(started.id))[0]
    claim_and_complete(ctx, task.id, people["alice"], {"note": "林晓雯 13800000001"})
    return str(started.id)


def test_a_request_is_due_fifteen_working_days_later_over_a_holiday(two, clock):
    clock.set(datetime(2026, 9, 30, 2, 0, tzinfo=UTC))  # Wednesday 10:00 in Shanghai, the day before 国庆
    view = dsr.file_request(two, "access", actor=me(LIN))
    # 10/1–10/7 rest, Saturday 10/10 is a working day: the 15th working day is Tuesday 10/27, same time of day.
    assert view.due_at == datetime(2026, 10, 27, 2, 0, tzinfo=UTC)
    assert view.status == "received" and view.channel == "portal" and not view.overdue
    clock.set(view.due_at + timedelta(minutes=1))
    assert dsr.list_requests(two, actor=SYSTEM)[0].overdue


def test_the_answer_deadline_is_a_setting(two, clock, settings):
    engine = build_engine(replace(settings, retention=replace(settings.retention, dsr_answer_workdays=3)),
                          clock=clock, db=two.db)
    view = dsr.file_request(engine, "access", actor=me(LIN))  # Monday 2025-03-03
    assert view.due_at.date() == date(2025, 3, 6)


def test_access_request_lifecycle_audited_and_the_export_holds_the_data(two, officer, people):
    deploy(two, ("letter.bpmn", b.simple_task_process("letter")))
    instance_id = _finish(two, people, "letter", LIN)
    view = dsr.file_request(two, "access", actor=me(LIN))
    with pytest.raises(ConflictError):
        dsr.file_request(two, "access", actor=me(LIN))  # one open request of a kind at a time
    with pytest.raises(ConflictError):
        dsr.download_export(two, view.id, fmt="json", actor=me(LIN))  # not answered yet
    answered = dsr.answer_access(two, view.id, answer="见附件", actor=officer)
    assert (answered.status, answered.handled_by) == ("answered", "cora")
    with pytest.raises(ConflictError):
        dsr.answer_access(two, view.id, actor=officer)
    data = dsr.download_export(two, view.id, fmt="json", actor=me(LIN))
    assert data["customer"]["name"] == "林晓雯" and data["customer"]["phone"] == "13800000001"
    assert data["customer"]["id_number"] == "11010519880229002X"
    assert {"channel": "all", "purpose": "marketing", "granted": True}.items() <= data["consents"][0].items()
    assert [i["id"] for i in data["instances"]] == [instance_id]
    assert any(e["action"] == "dsr.received" for e in data["audit_events"])
    assert json.loads(export.to_json(data))["customer"]["email"] == "lin@example.cn"
    assert export.to_xlsx(data)[:2] == b"PK"
    with Session(two.db) as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.stream == f"customer:{LIN}")
                                  .order_by(AuditEvent.id)).all()
    assert actions[-3:] == ["dsr.received", "dsr.answered", "dsr.export_downloaded"]


def test_a_customer_sees_only_their_own_requests(two):
    view = dsr.file_request(two, "deletion", actor=me(LIN))
    with pytest.raises(NotFoundError):
        dsr.get_request(two, view.id, actor=me(WANG))
    with pytest.raises(NotFoundError):
        dsr.get_request(two, 99999, actor=me(WANG))
    assert dsr.customer_requests(two, actor=me(WANG)) == []
    assert [r.id for r in dsr.customer_requests(two, actor=me(LIN))] == [view.id]


def test_staff_need_the_compliance_or_supervisor_role(two, people, officer):
    view = dsr.file_request(two, "access", actor=me(LIN))
    for call in (lambda: dsr.list_requests(two, actor=people["alice"]),
                 lambda: dsr.get_request(two, view.id, actor=people["alice"]),
                 lambda: dsr.answer_access(two, view.id, actor=people["alice"]),
                 lambda: dsr.record_request(two, WANG, "access", "branch", actor=people["alice"])):
        with pytest.raises(PermissionDeniedError):
            call()
    assert [r.id for r in dsr.list_requests(two, actor=people["sam"])] == [view.id]
    with pytest.raises(PermissionDeniedError):
        dsr.answer_access(two, view.id, actor=me(LIN))  # a customer does not answer their own request


def test_malformed_input_is_refused_and_nothing_stored(two, officer):
    for call in (lambda: dsr.record_request(two, WANG, "copy", "branch", actor=officer),
                 lambda: dsr.record_request(two, WANG, "access", "portal", actor=officer),
                 lambda: dsr.record_request(two, WANG, "access", "phone", note="x" * 5000, actor=officer)):
        with pytest.raises(InvalidInputError):
            call()
    with pytest.raises(CustomerNotFoundError):
        dsr.record_request(two, "NOBODY", "access", "phone", actor=officer)
    assert dsr.list_requests(two, actor=officer, open_only=False) == []
    view = dsr.record_request(two, WANG, "access", "phone", note="called in, verified", actor=officer)
    with pytest.raises(InvalidInputError):
        dsr.refuse(two, view.id, "because", answer="no", actor=officer)
    with pytest.raises(InvalidInputError):
        dsr.refuse(two, view.id, "identity_not_verified", answer="  ", actor=officer)
    refused = dsr.refuse(two, view.id, "identity_not_verified", answer="请携带身份证到网点办理", actor=officer)
    assert (refused.status, refused.refusal_reason, refused.channel) == ("refused", "identity_not_verified", "phone")


def test_deletion_of_an_active_customer_is_refused_and_processing_restricted(two, officer):
    view = dsr.file_request(two, "deletion", actor=me(LIN))
    refused = dsr.decide_deletion(two, view.id, actor=officer)
    assert (refused.status, refused.refusal_reason, refused.hold_until) == ("refused", "relationship_active", None)
    with Session(two.db) as session:
        row = session.get(Customer, LIN)
        assert row.status == "active" and row.name == "林晓雯" and row.do_not_disturb
        assert not session.get(Consent, (LIN, "all", "marketing")).granted


def test_deletion_within_the_aml_years_is_refused_until_the_anniversary(two, officer, clock):
    _close(two, LIN, datetime(2020, 6, 30, 4, 0, tzinfo=UTC))
    view = dsr.file_request(two, "deletion", actor=me(LIN))
    refused = dsr.decide_deletion(two, view.id, actor=officer)
    assert (refused.refusal_reason, refused.hold_until) == ("aml_retention", date(2030, 6, 30))


@pytest.mark.parametrize("hold", ["legal_hold", "open_complaint", "in_progress"])
def test_a_hold_refuses_a_deletion_past_the_aml_years(two, officer, people, clock, hold):
    _close(two, LIN, clock.now() - timedelta(days=365 * 11))
    if hold == "legal_hold":
        retention.place_hold(two, "customer", LIN, reason="court order", actor=people["sam"])
    elif hold == "open_complaint":
        now = clock.now()
        with Session(two.db) as session, session.begin():
            session.add(Complaint(case_no="TS1", customer_id=LIN, channel="phone", business_type="deposit",
                                  cause="service", summary="排队太久", status="investigating", received_at=now,
                                  clock_started_on=now.date(), target_due_on=now.date(), legal_due_on=now.date(),
                                  warn_on=now.date(), source="desk", created_at=now, updated_at=now))
    else:
        deploy(two, ("letter.bpmn", b.simple_task_process("letter")))
        instances.start_instance(two, process_key="letter", actor=SYSTEM, customer_id=LIN)
    view = dsr.record_request(two, LIN, "deletion", "branch", actor=officer)
    refused = dsr.decide_deletion(two, view.id, actor=officer)
    assert (refused.status, refused.refusal_reason) == ("refused", hold)
    with Session(two.db) as session:
        assert session.get(Customer, LIN).name == "林晓雯"


def test_erasure_anonymises_keeps_rows_and_the_audit_chain_verifies(two, officer, people, clock, settings):
    deploy(two, ("letter.bpmn", b.simple_task_process("letter")))
    instance_id = _finish(two, people, "letter", LIN)
    _close(two, LIN, clock.now() - timedelta(days=365 * 11))
    view = dsr.file_request(two, "deletion", actor=me(LIN))
    done = dsr.decide_deletion(two, view.id, answer="已删除", actor=officer)
    assert done.status == "answered" and done.customer_name == erasure.TOMBSTONE_NAME
    with Session(two.db) as session:
        row = session.get(Customer, LIN)
        assert row.status == "erased" and row.name == erasure.TOMBSTONE_NAME and row.birth_date is None
        assert row.phone_enc is row.phone_index is row.email_enc is row.id_number_enc is row.address_enc is None
        assert not any(c.granted for c in session.scalars(select(Consent).where(Consent.customer_id == LIN)))
        instance = session.get(ProcessInstance, uuid.UUID(instance_id))
        assert instance.archived_at is not None and instance.state == ""
        events = session.scalars(select(AuditEvent).where(AuditEvent.stream == f"customer:{LIN}")
                                 .order_by(AuditEvent.id)).all()
        erased = [e for e in events if e.action == "customer.erased"]
        assert len(erased) == 1 and erased[0].after["basis"] == f"request:{view.id}"
        assert "林" not in json.dumps([e.after for e in events], ensure_ascii=False)
        assert session.get(Customer, WANG).name == "王小明"
    with Session(two.db) as session:
        result = verify_all(session)
    assert result.ok and result.events > 5
    with pytest.raises(ConflictError):
        dsr.file_request(two, "access", actor=me(LIN))  # nothing left to ask for


def test_retention_anonymises_a_closed_customer_the_day_after_the_aml_years_not_the_day_before(two, clock, people):
    ended = datetime(2015, 3, 10, 4, 0, tzinfo=UTC)  # noon in Shanghai: bank-local 2015-03-10
    _close(two, LIN, ended)
    _close(two, WANG, ended + 30 * DAY)
    clock.set(datetime(2025, 3, 10, 15, 0, tzinfo=UTC))  # 2025-03-10 23:00 in Shanghai: the last day of the hold
    assert retention.run(two).steps == {"customers_anonymised": 0}
    clock.set(datetime(2025, 3, 10, 16, 30, tzinfo=UTC))  # 2025-03-11 00:30 in Shanghai
    assert retention.run(two, dry_run=True).steps == {"customers_anonymised": 1}
    with Session(two.db) as session:
        assert session.get(Customer, LIN).status == "closed"
    waiting = dsr.file_request(two, "deletion", actor=me(LIN))  # still open when the run erases: answered by it
    retention.place_hold(two, "customer", WANG, reason="AML investigation", actor=people["sam"])
    clock.set(ended + 30 * DAY + 3660 * DAY)
    assert retention.run(two).steps == {"customers_anonymised": 1}
    with Session(two.db) as session:
        assert session.get(Customer, LIN).status == "erased"
        assert session.get(Customer, WANG).status == "closed"  # held
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "customer.erased", AuditEvent.actor == "retention")) == 1
    done = dsr.get_request(two, waiting.id, actor=me(LIN))
    assert (done.status, done.handled_by) == ("answered", "retention")
    with Session(two.db) as session:
        result = verify_all(session)
    assert result.ok and result.events > 5


def test_erasure_clears_complaints_and_messages_but_keeps_their_rows(two, officer, clock):
    now = clock.now()
    with Session(two.db) as session, session.begin():
        session.add(Complaint(case_no="TS2", customer_id=LIN, channel="phone", business_type="deposit", cause="service",
                              summary="林晓雯说排队太久", facts="13800000001", status="closed", received_at=now,
                              answer="林女士您好", clock_started_on=now.date(), target_due_on=now.date(),
                              legal_due_on=now.date(), warn_on=now.date(), source="desk", created_at=now,
                              updated_at=now))
        session.add(OutboxMessage(idempotency_key="k1", customer_id=LIN, channel="sms", purpose="service",
                                  template="welcome", params={"name": "林晓雯"}, status="pending",
                                  next_attempt_at=now, created_at=now))
    _close(two, LIN, now - timedelta(days=365 * 11))
    view = dsr.record_request(two, LIN, "deletion", "branch", actor=officer)
    assert dsr.decide_deletion(two, view.id, actor=officer).status == "answered"
    with Session(two.db) as session:
        case = session.scalar(select(Complaint).where(Complaint.case_no == "TS2"))
        assert case.summary == erasure.TOMBSTONE_TEXT and case.facts == "" and case.answer == erasure.TOMBSTONE_TEXT
        assert case.status == "closed" and case.business_type == "deposit"
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == "k1"))
        assert message.params == {} and message.status == "suppressed"


def test_the_core_banking_import_does_not_fill_an_erased_customer_again(two, officer, people, clock):
    from engine.customers.customer360 import seed_products
    from engine.customers.imports import start_import

    seed_products(two)
    _close(two, LIN, clock.now() - timedelta(days=365 * 11))
    dsr.decide_deletion(two, dsr.record_request(two, LIN, "deletion", "branch", actor=officer).id, actor=officer)
    record = {"id": LIN, "name": "林晓雯", "phone": "13800000001"}
    run = start_import(two, "c.json", "json", json.dumps([record]).encode(), people["sam"])
    assert (run.failed, [e["code"] for e in run.errors]) == (1, ["erased"])
    with Session(two.db) as session:
        row = session.get(Customer, LIN)
        assert row.name == erasure.TOMBSTONE_NAME and row.phone_enc is None
