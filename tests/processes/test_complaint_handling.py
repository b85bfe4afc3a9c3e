"""processes/complaint_handling.bpmn end to end with a frozen clock (docs/domain.md §1), straight and with save/restore.

The clock starts on Monday 2025-03-03 09:00 in Shanghai (tests/conftest.py START).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from engine.complaints import service as complaints
from engine.complaints.service import ComplaintInput
from engine.context import build_engine
from engine.errors import InvalidTransitionError, PermissionDeniedError
from engine.outbox.models import OutboxMessage
from engine.services import identity, instances, sla, tasks
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM, Actor
from tests.support.care import add_customers, customer
from tests.support.engine import claim_and_complete, deploy, open_tasks

ROOT = Path(__file__).resolve().parents[2]
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
CUSTOMER = Actor("customer:C1", frozenset({"customer"}))
FINDINGS = {"findings": "核对交易流水与监控录像", "decision": "upheld", "answer": "经核实，已为您退回重复扣款80000元",
            "extension": "none"}


def deploy_complaints(ctx):
    files = [("complaint_handling.bpmn", (ROOT / "processes" / "complaint_handling.bpmn").read_bytes()),
             ("complaint_routing.dmn", (ROOT / "processes" / "complaint_routing.dmn").read_bytes())]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("complaint_*.json"))]
    return deploy(ctx, *files)


@pytest.fixture
def setup(ctx, people):
    deploy_complaints(ctx)
    add_customers(ctx, customer("C1"), customer("C2"))
    identity.create_user(ctx, username="sue", roles=["supervisor"], groups=["supervisors"], password="correct horse 1")
    return {**people, "sue": identity.get_actor(ctx, "sue")}


def complaint(**kw) -> ComplaintInput:
    values = {"channel": "mobile_app", "business_type": "bank_cards", "cause": "service_attitude",
              "summary": "网点工作人员态度差", "customer_id": "C1", "complainant_name": "王小明",
              "complainant_phone": "13800138000", **kw}
    return ComplaintInput(**values)


def task_named(ctx, instance_id, name):
    found = [t for t in open_tasks(ctx, instance_id) if t.task_name == name]
    assert len(found) == 1, [t.task_name for t in open_tasks(ctx, instance_id)]
    return found[0]


def outbox(ctx, template):
    with ctx.sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                    .order_by(OutboxMessage.id)))


def kinds(view):
    return [e.kind for e in view.events]


def test_every_element_has_a_diagram_shape_in_its_plane():
    tree = etree.parse(str(ROOT / "processes" / "complaint_handling.bpmn"))
    elements = {e.get("id") for e in tree.xpath("//bpmn:process//*[@id] | //bpmn:participant", namespaces=NS)
                if etree.QName(e).localname in {"startEvent", "endEvent", "userTask", "serviceTask", "scriptTask",
                                                "businessRuleTask", "exclusiveGateway", "parallelGateway",
                                                "eventBasedGateway", "intermediateCatchEvent", "boundaryEvent",
                                                "subProcess", "sequenceFlow", "lane", "participant"}}
    drawn = [e.get("bpmnElement") for e in tree.xpath("//bpmndi:BPMNShape | //bpmndi:BPMNEdge", namespaces=NS)]
    assert set(drawn) == elements and len(drawn) == len(set(drawn))
    planes = {p.get("bpmnElement") for p in tree.xpath("//bpmndi:BPMNPlane", namespaces=NS)}
    assert planes == {"Collaboration_complaint_handling", "handle", "feedback"}  # drill-down into both sub-processes


@pytest.mark.parametrize("fresh", [False, True], ids=["straight", "save-restore"])
def test_large_complaint_straight_through(ctx, settings, db, clock, setup, fresh):
    people = setup

    def step():  # save → restore: a new context has no cached spec and nothing in memory
        return build_engine(settings, clock=clock, db=db) if fresh else ctx

    view, created = complaints.submit_complaint(step(), complaint(cause="fund_safety", summary="卡被重复扣款",
                                                                  amount=Decimal("80000")), actor=people["alice"])
    assert created and view.case_no == "TS20250303-000001"
    assert (view.status, view.target_due_on, view.legal_due_on) == ("investigating", date(2025, 3, 18), date(2025, 3, 18))
    [ack] = outbox(ctx, "complaint_ack")
    assert (ack.customer_id, ack.purpose, ack.params["case_no"], ack.params["target_on"]) == (
        "C1", "statutory", "TS20250303-000001", "2025-03-18")

    investigate = task_named(step(), view.instance_id, "investigate")
    assert investigate.candidate_groups == ("service_team",)
    assert investigate.due_at == datetime(2025, 3, 18, 15, 59, 59, tzinfo=UTC)  # end of day 15, bank time
    assert investigate.sla_warn_at == datetime(2025, 3, 12, 16, 0, tzinfo=UTC)  # from day 10
    assert complaints.get_complaint(step(), view.case_no, actor=people["alice"]).severity == "high"

    clock.advance(timedelta(days=2))
    claim_and_complete(step(), investigate.id, people["alice"], FINDINGS)
    approve = task_named(step(), view.instance_id, "approve_answer")
    assert approve.candidate_groups == ("supervisors",) and approve.due_at == investigate.due_at
    assert complaints.get_complaint(step(), view.case_no, actor=people["sam"]).status == "awaiting_approval"
    claim_and_complete(step(), approve.id, people["sam"], {"approved": True, "approval_comment": "同意"})

    answered = complaints.get_complaint(step(), view.case_no, actor=CUSTOMER)
    assert (answered.status, answered.answer, answered.can_rate, answered.can_request_review) == (
        "answered", FINDINGS["answer"], True, True)
    assert answered.answered_at == datetime(2025, 3, 5, 1, 0, tzinfo=UTC)
    assert answered.review_apply_by == date(2025, 4, 7)  # day 30 is Qingming (04-04…04-06)
    [message] = outbox(ctx, "complaint_answer")
    assert message.params["answer"] == FINDINGS["answer"] and message.params["review_apply_by"] == "2025-04-07"

    rated = complaints.rate_complaint(step(), view.case_no, score=5, comment="满意", actor=CUSTOMER)
    # A good rating leaves the review window open (docs/domain.md §1.6); the case closes when the window does.
    assert (rated.status, rated.satisfaction, rated.can_rate, rated.can_request_review) == ("answered", 5, False, True)
    clock.set(datetime(2025, 4, 8, 1, 0, tzinfo=UTC))  # the day after review_apply_by, 09:00 in Shanghai
    fire_due_timers(step())
    assert instances.get_instance(step(), view.instance_id, actor=SYSTEM).status == "completed"
    rated = complaints.get_complaint(step(), view.case_no, actor=CUSTOMER)
    assert (rated.status, rated.can_request_review) == ("closed", False)
    staff_view = complaints.get_complaint(step(), view.case_no, actor=people["sam"])
    assert kinds(staff_view) == ["received", "acknowledged", "triaged", "investigating", "investigated",
                                 "awaiting_approval", "answered", "rated", "closed"]
    assert staff_view.handler == "alice" and [e.actor for e in rated.events] == [None] * 9  # customers see no staff


def _answered_by(ctx, people, handler="alice", **kw):
    """A normal complaint (no approval needed) investigated and answered by ``handler``."""
    view, _ = complaints.submit_complaint(ctx, complaint(**kw), actor=people["alice"])
    claim_and_complete(ctx, task_named(ctx, view.instance_id, "investigate").id, people[handler],
                       {**FINDINGS, "answer": "已对相关员工进行批评教育并向您致歉"})
    assert complaints.get_complaint(ctx, view.case_no, actor=people["sam"]).status == "answered"
    return view


def test_negative_rating_reopens_to_a_supervisor(ctx, setup):
    view = _answered_by(ctx, setup)
    reopened = complaints.rate_complaint(ctx, view.case_no, score=2, comment="处理太慢", actor=CUSTOMER)
    assert (reopened.status, reopened.satisfaction) == ("reopened", 2)
    reopen = task_named(ctx, view.instance_id, "reopen_case")
    assert reopen.candidate_groups == ("supervisors",)
    with pytest.raises(InvalidTransitionError):
        complaints.rate_complaint(ctx, view.case_no, score=5, actor=CUSTOMER)
    claim_and_complete(ctx, reopen.id, setup["sam"], {"reopen_action": "reinvestigate", "reopen_note": "已致电客户"})
    assert complaints.get_complaint(ctx, view.case_no, actor=setup["sam"]).status == "investigating"
    assert task_named(ctx, view.instance_id, "investigate").candidate_groups == ("service_team",)


def test_review_inside_the_window_goes_to_another_supervisor(ctx, clock, setup):
    view = _answered_by(ctx, setup, handler="sam")  # a supervisor investigated this one himself
    clock.advance(timedelta(days=20))
    asked = complaints.request_review(ctx, view.case_no, reason="不认可处理结果", actor=CUSTOMER)
    assert (asked.status, asked.review_due_on, asked.can_request_review) == ("under_review", date(2025, 4, 22), False)
    review = task_named(ctx, view.instance_id, "review_case")
    assert review.candidate_groups == ("supervisors",)
    assert review.due_at == datetime(2025, 4, 22, 15, 59, 59, tzinfo=UTC)
    with pytest.raises(PermissionDeniedError):
        tasks.claim_task(ctx, review.id, actor=setup["sam"])  # the original handler may not review (recusal)
    claim_and_complete(ctx, review.id, setup["sue"], {"review_result": "maintained", "review_answer": "维持原处理决定"})
    done = complaints.get_complaint(ctx, view.case_no, actor=setup["sam"])
    assert done.status == "closed" and [e.actor for e in done.events if e.kind == "reviewed"] == ["sue"]
    assert [m.params["review_answer"] for m in outbox(ctx, "complaint_review_result")] == ["维持原处理决定"]


def test_review_after_thirty_days_is_refused_and_the_window_closes_the_case(ctx, clock, setup):
    view = _answered_by(ctx, setup)  # answered 2025-03-03: the window ends with 2025-04-02
    clock.set(datetime(2025, 4, 2, 15, 0, tzinfo=UTC))  # 23:00 on the last day
    assert complaints.get_complaint(ctx, view.case_no, actor=CUSTOMER).can_request_review
    clock.set(datetime(2025, 4, 3, 2, 0, tzinfo=UTC))  # 10:00 the day after
    assert not complaints.get_complaint(ctx, view.case_no, actor=CUSTOMER).can_request_review
    with pytest.raises(InvalidTransitionError, match="window"):
        complaints.request_review(ctx, view.case_no, reason="不认可", actor=CUSTOMER)
    assert fire_due_timers(ctx).fired == 1
    closed = complaints.get_complaint(ctx, view.case_no, actor=setup["sam"])
    assert closed.status == "closed" and closed.events[-1].kind == "closed"
    assert instances.get_instance(ctx, view.instance_id, actor=SYSTEM).status == "completed"


def test_the_handler_may_not_approve_their_own_answer(ctx, setup, clock):
    view, _ = complaints.submit_complaint(ctx, complaint(amount=Decimal("60000")), actor=setup["alice"])
    claim_and_complete(ctx, task_named(ctx, view.instance_id, "investigate").id, setup["sam"], FINDINGS)
    clock.advance(timedelta(hours=1))
    approve = task_named(ctx, view.instance_id, "approve_answer")
    with pytest.raises(PermissionDeniedError):
        tasks.claim_task(ctx, approve.id, actor=setup["sam"])
    claim_and_complete(ctx, approve.id, setup["sue"], {"approved": False, "approval_comment": "补充依据"})
    assert complaints.get_complaint(ctx, view.case_no, actor=setup["sue"]).status == "investigating"
    again = task_named(ctx, view.instance_id, "investigate")
    claim_and_complete(ctx, again.id, setup["alice"], FINDINGS)
    # sam investigated the first round: every performer counts, across send-backs, not only the latest
    second = task_named(ctx, view.instance_id, "approve_answer")
    with pytest.raises(PermissionDeniedError):
        tasks.claim_task(ctx, second.id, actor=setup["sam"])
    claim_and_complete(ctx, second.id, setup["sue"], {"approved": True})
    assert complaints.get_complaint(ctx, view.case_no, actor=setup["sue"]).status == "answered"


def test_withdrawal_ends_the_instance(ctx, setup):
    view, _ = complaints.submit_complaint(ctx, complaint(), actor=CUSTOMER)
    withdrawn = complaints.withdraw_complaint(ctx, view.case_no, reason="问题已解决", actor=CUSTOMER)
    assert withdrawn.status == "withdrawn" and withdrawn.closed_at is not None
    instance = instances.get_instance(ctx, view.instance_id, actor=SYSTEM)
    assert (instance.status, instance.open_tasks, instance.timers) == ("completed", [], [])
    assert [e.actor for e in complaints.get_complaint(ctx, view.case_no, actor=setup["sam"]).events
            if e.kind == "withdrawn"] == ["customer:C1"]
    with pytest.raises(InvalidTransitionError):
        complaints.withdraw_complaint(ctx, view.case_no, actor=CUSTOMER)


def test_complex_then_special_extension_with_approval_and_notice(ctx, setup):
    view, _ = complaints.submit_complaint(ctx, complaint(), actor=setup["alice"])
    first = task_named(ctx, view.instance_id, "investigate")
    claim_and_complete(ctx, first.id, setup["alice"], {**FINDINGS, "extension": "complex", "extension_reason": "需调取录像"})
    extended = complaints.get_complaint(ctx, view.case_no, actor=setup["alice"])
    assert (extended.extension, extended.target_due_on, extended.legal_due_on) == ("complex", date(2025, 4, 2),
                                                                                  date(2025, 4, 2))
    second = task_named(ctx, view.instance_id, "investigate")
    assert second.due_at == datetime(2025, 4, 2, 15, 59, 59, tzinfo=UTC)
    claim_and_complete(ctx, second.id, setup["alice"], {**FINDINGS, "extension": "special", "extension_reason": "涉及第三方"})
    approval = task_named(ctx, view.instance_id, "approve_extension")
    assert complaints.get_complaint(ctx, view.case_no, actor=setup["alice"]).extension == "complex"  # not yet
    claim_and_complete(ctx, approval.id, setup["sam"], {"approved": True})
    special = complaints.get_complaint(ctx, view.case_no, actor=setup["alice"])
    assert (special.extension, special.target_due_on, special.legal_due_on) == ("special", date(2025, 5, 2),
                                                                                date(2025, 5, 6))
    notices = [(m.params["days"], m.params["target_on"]) for m in outbox(ctx, "complaint_extension")]
    assert notices == [(30, "2025-04-02"), (60, "2025-05-02")]
    assert kinds(special).count("extended") == 2


def test_an_appraisal_pause_moves_the_deadline_by_the_days_paused(ctx, clock, setup):
    view, _ = complaints.submit_complaint(ctx, complaint(), actor=setup["alice"])
    clock.advance(timedelta(days=2))  # 2025-03-05
    claim_and_complete(ctx, task_named(ctx, view.instance_id, "investigate").id, setup["alice"],
                       {**FINDINGS, "appraisal": True, "appraisal_reason": "签名笔迹鉴定"})
    paused = complaints.get_complaint(ctx, view.case_no, actor=setup["alice"])
    assert paused.paused and len(outbox(ctx, "complaint_paused")) == 1
    appraisal = task_named(ctx, view.instance_id, "appraisal_result")
    assert appraisal.due_at is None  # the clock is stopped
    clock.advance(timedelta(days=7))  # 2025-03-12
    claim_and_complete(ctx, appraisal.id, setup["alice"], {"appraisal_result": "笔迹非本人"})
    resumed = complaints.get_complaint(ctx, view.case_no, actor=setup["alice"])
    assert (resumed.paused, resumed.paused_days, resumed.target_due_on) == (False, 7, date(2025, 3, 25))
    assert task_named(ctx, view.instance_id, "investigate").due_at == datetime(2025, 3, 25, 15, 59, 59, tzinfo=UTC)
    assert kinds(resumed)[-3:] == ["investigated", "paused", "resumed"]  # still investigating throughout


def test_new_facts_restart_the_open_cases_clock(ctx, clock, setup):
    first, _ = complaints.submit_complaint(ctx, complaint(), actor=CUSTOMER)
    clock.set(datetime(2025, 3, 10, 2, 0, tzinfo=UTC))
    again, created = complaints.submit_complaint(
        ctx, complaint(facts="补充：当天还被拒绝办理挂失", new_facts=True), actor=CUSTOMER)
    assert (created, again.case_no, again.status) == (False, first.case_no, "investigating")
    assert (again.target_due_on, again.legal_due_on) == (date(2025, 3, 25), date(2025, 3, 25))
    assert kinds(again)[-2:] == ["merged", "new_facts"]
    assert task_named(ctx, first.instance_id, "investigate").due_at == datetime(2025, 3, 25, 15, 59, 59, tzinfo=UTC)


def test_deadline_warning_on_day_ten_and_breach_after_day_fifteen(ctx, clock, setup):
    view, _ = complaints.submit_complaint(ctx, complaint(), actor=setup["alice"])
    clock.set(datetime(2025, 3, 12, 2, 0, tzinfo=UTC))  # day 9: nothing yet
    fire_due_timers(ctx)
    assert task_named(ctx, view.instance_id, "investigate").priority == 60
    clock.set(datetime(2025, 3, 13, 2, 0, tzinfo=UTC))  # day 10
    fire_due_timers(ctx)
    fire_due_timers(ctx)  # the daily check runs again: still one warning
    assert task_named(ctx, view.instance_id, "investigate").priority == 70
    assert kinds(complaints.get_complaint(ctx, view.case_no, actor=setup["sam"])).count("sla_warning") == 1
    assert [(r.process_key, r.warning, r.breached) for r in sla.sla_board(ctx, actor=setup["sam"])] == [
        ("complaint_handling", 1, 0)]
    clock.set(datetime(2025, 3, 19, 2, 0, tzinfo=UTC))  # day 16
    fire_due_timers(ctx)
    assert sla.sweep_breaches(ctx) == 1
    investigate = task_named(ctx, view.instance_id, "investigate")
    assert investigate.priority == 90 and investigate.sla_breached_at == datetime(2025, 3, 18, 15, 59, 59, tzinfo=UTC)
    assert kinds(complaints.get_complaint(ctx, view.case_no, actor=setup["sam"])).count("sla_breached") == 1


def test_a_group_of_twenty_is_a_major_complaint_escalated_to_supervisors(ctx, setup):
    view, _ = complaints.submit_complaint(ctx, complaint(group_size=25, summary="25位客户集体投诉理财亏损"),
                                          actor=setup["alice"])
    assert complaints.get_complaint(ctx, view.case_no, actor=setup["sam"]).severity == "major"
    escalation = task_named(ctx, view.instance_id, "major_escalation")
    assert (escalation.candidate_groups, escalation.priority) == (("supervisors",), 90)
    task_named(ctx, view.instance_id, "investigate")  # handling goes on in parallel


def test_a_complainant_without_customer_number_is_acknowledged_by_staff(ctx, setup):
    view, _ = complaints.submit_complaint(ctx, complaint(customer_id=None, channel="phone"), actor=setup["alice"])
    assert view.status == "received" and outbox(ctx, "complaint_ack") == []
    ack = task_named(ctx, view.instance_id, "ack_manually")
    assert ack.due_at == datetime(2025, 3, 4, 1, 0, tzinfo=UTC)  # one working day
    claim_and_complete(ctx, ack.id, setup["alice"], {"ack_method": "phone", "ack_note": "录音编号 R-1"})
    assert complaints.get_complaint(ctx, view.case_no, actor=setup["alice"]).status == "investigating"


def test_recusal_holds_even_in_a_version_without_exclude_users(ctx, setup):
    """A designer who drops the approval tasks' ``approves`` does not drop the rule: the step refuses and rolls back."""
    source = (ROOT / "processes" / "complaint_handling.bpmn").read_text(encoding="utf-8")
    stripped = re.sub(r'<spiffworkflow:property name="approves" value="[^"]*"/>', "", source)
    assert stripped.count('"approves"') == 0 and source.count('"approves"') == 3
    deploy(ctx, ("complaint_handling.bpmn", stripped.encode("utf-8")),
           ("complaint_routing.dmn", (ROOT / "processes" / "complaint_routing.dmn").read_bytes()),
           *[(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("complaint_*.json"))])
    view, _ = complaints.submit_complaint(ctx, complaint(amount=Decimal("60000")), actor=setup["alice"])
    claim_and_complete(ctx, task_named(ctx, view.instance_id, "investigate").id, setup["sam"], FINDINGS)
    approve = task_named(ctx, view.instance_id, "approve_answer")
    tasks.claim_task(ctx, approve.id, actor=setup["sam"])
    with pytest.raises(PermissionDeniedError, match="recusal"):
        tasks.complete_task(ctx, approve.id, actor=setup["sam"], data={"approved": True})
    assert complaints.get_complaint(ctx, view.case_no, actor=setup["sam"]).status == "awaiting_approval"
    assert outbox(ctx, "complaint_answer") == []
    assert task_named(ctx, view.instance_id, "approve_answer").assignee == "sam"  # nothing moved


def test_with_appraisal_pauses_switched_off_the_appraisal_days_still_count(settings, db, clock, setup):
    from dataclasses import replace

    lenient = replace(settings.complaints, pause_for_external_appraisal=False)
    strict = build_engine(replace(settings, complaints=lenient), clock=clock, db=db)
    view, _ = complaints.submit_complaint(strict, complaint(), actor=setup["alice"])
    clock.advance(timedelta(days=2))
    claim_and_complete(strict, task_named(strict, view.instance_id, "investigate").id, setup["alice"],
                       {**FINDINGS, "appraisal": True, "appraisal_reason": "签名笔迹鉴定"})
    clock.advance(timedelta(days=7))
    claim_and_complete(strict, task_named(strict, view.instance_id, "appraisal_result").id, setup["alice"],
                       {"appraisal_result": "笔迹非本人"})
    resumed = complaints.get_complaint(strict, view.case_no, actor=setup["alice"])
    assert (resumed.paused, resumed.paused_days, resumed.target_due_on) == (False, 0, date(2025, 3, 18))


def test_a_face_to_face_group_elects_at_most_five_representatives(ctx, setup):
    from engine.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="1 to 5 representatives"):
        complaints.submit_complaint(ctx, complaint(channel="branch_counter", group_size=30, representatives=6),
                                    actor=setup["alice"])
    view, created = complaints.submit_complaint(
        ctx, complaint(channel="branch_counter", group_size=30, representatives=5), actor=setup["alice"])
    assert created and view.status == "investigating"


def test_a_complainant_without_customer_number_is_answered_by_staff_with_evidence(ctx, setup):
    view, _ = complaints.submit_complaint(ctx, complaint(customer_id=None, channel="phone"), actor=setup["alice"])
    claim_and_complete(ctx, task_named(ctx, view.instance_id, "ack_manually").id, setup["alice"],
                       {"ack_method": "phone", "ack_note": "录音编号 R-1"})
    claim_and_complete(ctx, task_named(ctx, view.instance_id, "investigate").id, setup["alice"], FINDINGS)
    answer = task_named(ctx, view.instance_id, "answer_manually")
    assert outbox(ctx, "complaint_answer") == []  # no message can reach someone with no customer record
    assert complaints.get_complaint(ctx, view.case_no, actor=setup["alice"]).status == "answered"
    claim_and_complete(ctx, answer.id, setup["bob"], {"answer_method": "letter", "answer_evidence": "挂号信 XA1234"})
    instance = instances.get_instance(ctx, view.instance_id, actor=SYSTEM)
    assert (instance.status, instance.open_tasks) == ("running", [])  # now waiting for feedback or a review request
    assert [t.name for t in instance.timers] == ["wait"]  # the review window (feedback sub-process)
