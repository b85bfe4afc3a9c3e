"""The case file of a task (engine.casefile, engine.services.case_file): providers named by the process,
filtered by the viewer's permissions, masked, and every view of personal data audited with its purpose."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.casefile import registry
from engine.casefile.model import Section
from engine.complaints import service as complaints
from engine.complaints.service import ComplaintInput
from engine.db.casefile import TaskDraft, TaskSubmission
from engine.db.models import AuditEvent
from engine.errors import PermissionDeniedError
from engine.services import case_file, drafts, grants, identity, tasks
from tests.processes.test_complaint_handling import FINDINGS, deploy_complaints, task_named
from tests.support.care import add_customers, customer
from tests.support.engine import claim_and_complete

FACTS = "3月1日在ATM取款2000元未出钞，账户却已扣款"
REQUEST = "退回被扣的2000元并说明原因"


@pytest.fixture
def setup(ctx, people):
    deploy_complaints(ctx)
    add_customers(ctx, customer("C1", manager="bob", name="王小明", phone="13912345678"))
    identity.create_user(ctx, username="sue", roles=["supervisor"], groups=["supervisors"], password="correct horse 1")
    return {**people, "sue": identity.get_actor(ctx, "sue")}


def filed(ctx, actor, **kw):
    values = {"channel": "mobile_app", "business_type": "bank_cards", "cause": "fund_safety",
              "summary": "ATM未出钞但已扣款", "customer_id": "C1", "complainant_name": "王小明",
              "complainant_phone": "13912345678", "facts": FACTS, "request": REQUEST, "amount": Decimal("2000"), **kw}
    view, _ = complaints.submit_complaint(ctx, ComplaintInput(**values), actor=actor)
    return view


def section(found, name) -> Section:
    [only] = [s for s in found.sections if s.name == name]
    return only


def facts(found, name):
    return {f.key: f.value for f in section(found, name).facts}


def viewed(ctx, action="customer.viewed"):
    with ctx.sessions() as session:
        return [(e.stream, e.actor, e.after) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def test_the_handler_sees_the_complaint_facts_request_amount_and_dates(ctx, setup):
    view = filed(ctx, setup["alice"])
    investigate = task_named(ctx, view.instance_id, "investigate")
    found = case_file.get_case_file(ctx, investigate.id, actor=setup["alice"])
    assert [s.name for s in found.sections] == ["complaint_case", "complaint_timeline", "customer_summary"]
    case = facts(found, "complaint_case")
    assert case["case_no"] == view.case_no and case["facts"] == FACTS and case["request"] == REQUEST
    assert case["amount"] == Decimal("2000.00") and case["channel"] == "mobile_app"
    assert case["target_due_on"] == view.target_due_on and case["legal_due_on"] == view.legal_due_on
    assert case["complainant"] == "王*明" and case["complainant_phone"] == "139****5678"  # masked
    assert [e.kind for e in section(found, "complaint_timeline").entries][:2] == ["received", "acknowledged"]
    # alice is not C1's manager: she reads the customer for this task only, masked
    assert facts(found, "customer_summary")["customer_name"] == "王*明"
    assert facts(found, "customer_summary")["phone"] == "139****5678"
    assert viewed(ctx) == [("customer:C1", "alice", {"purpose": f"task:{investigate.id}", "sections": [
        "complaint_case", "complaint_timeline", "customer_summary"]})]


def test_a_section_the_viewer_may_not_read_is_withheld(ctx, setup):
    view = filed(ctx, setup["alice"])
    investigate = task_named(ctx, view.instance_id, "investigate")
    [staff_reads] = [g for g in grants.list_grants(ctx, actor=setup["root"])
                     if (g.principal, g.resource_id, g.permission) == ("role:staff", "complaint_handling", "read")]
    grants.revoke_grant(ctx, staff_reads.id, actor=None, by="root")
    found = case_file.get_case_file(ctx, investigate.id, actor=setup["alice"])
    assert section(found, "complaint_case") == Section("complaint_case", withheld=True)
    assert section(found, "complaint_timeline") == Section("complaint_timeline", withheld=True)
    with pytest.raises(PermissionDeniedError):  # carol is not a candidate: not her task to see
        case_file.get_case_file(ctx, investigate.id, actor=setup["carol"])
    assert viewed(ctx)[-1][2]["sections"] == ["customer_summary"]


def test_a_complaint_without_a_registered_customer_is_audited_on_the_task(ctx, setup):
    view = filed(ctx, setup["alice"], customer_id=None)
    ack = task_named(ctx, view.instance_id, "ack_manually")
    found = case_file.get_case_file(ctx, ack.id, actor=setup["bob"])
    assert facts(found, "complaint_case")["facts"] == FACTS
    assert viewed(ctx, "complaint.viewed") == [(f"task:{ack.id}", "bob", {"purpose": f"task:{ack.id}",
                                                                          "sections": ["complaint_case"]})]


def test_the_approver_sees_the_answer_and_remedy_and_after_a_send_back_the_diff(ctx, setup):
    view = filed(ctx, setup["alice"], amount=Decimal("60000"))
    claim_and_complete(ctx, task_named(ctx, view.instance_id, "investigate").id, setup["alice"],
                       {**FINDINGS, "compensation": 80})
    approve = task_named(ctx, view.instance_id, "approve_answer")
    first = case_file.get_case_file(ctx, approve.id, actor=setup["sue"])
    [work] = first.approves
    assert (work.element_id, work.by, work.round, work.previous) == ("investigate", "alice", 1, None)
    assert work.data["answer"] == FINDINGS["answer"] and work.data["compensation"] == 80
    assert work.form is not None and work.form["id"] == "complaint_investigate"  # labels come from its form
    with ctx.sessions() as session:  # form data carries personal data: stored sealed, like the instance's state
        [stored] = session.scalars(select(TaskSubmission.data_sealed)).all()
    assert stored.startswith("z2:") and "退回" not in stored and "findings" not in stored
    assert first.sent_back is None
    claim_and_complete(ctx, approve.id, setup["sue"], {"approved": False, "approval_comment": "补充监控录像核查结论"})
    again = task_named(ctx, view.instance_id, "investigate")
    back = case_file.get_case_file(ctx, again.id, actor=setup["alice"])
    assert back.sent_back is not None
    assert (back.sent_back.by, back.sent_back.comment) == ("sue", "补充监控录像核查结论")
    returned = [e for e in section(back, "complaint_timeline").entries if e.kind == "returned"]
    assert [(e.actor, e.label_zh) for e in returned] == [("sue", "主管退回，重新调查")]  # the case log names the approver
    earlier = section(back, "earlier_decisions").submissions
    assert [(s.element_id, s.round) for s in earlier] == [("investigate", 1), ("approve_answer", 1)]
    claim_and_complete(ctx, again.id, setup["alice"], {**FINDINGS, "compensation": 120, "findings": "核对录像：未出钞"})
    second = case_file.get_case_file(ctx, task_named(ctx, view.instance_id, "approve_answer").id, actor=setup["sue"])
    [work] = second.approves
    assert work.round == 2 and work.previous is not None and work.changed == ("compensation", "findings")
    assert second.sent_back is None


def test_identifying_fields_of_earlier_submissions_are_masked():
    from engine.casefile.providers import masked

    assert masked({"name": "王小明", "phone": "13912345678", "id_number": "110101198001011234", "note": "x"}) == {
        "name": "王*明", "phone": "139****5678", "id_number": "**************1234", "note": "x"}


def test_a_task_lists_its_providers_in_the_bpmn_or_its_form():
    class Spec:
        extensions = {"properties": {"context": "complaint_case, earlier_decisions"}}

    assert registry.listed(Spec(), {"careflow": {"context": ["customer_summary", "complaint_case"]}}) == (
        "complaint_case", "earlier_decisions", "customer_summary")
    registry.register("always_empty", lambda reading: None)
    assert registry.known("always_empty") and not registry.known("nothing")
    with pytest.raises(ValueError):
        registry.register("bad name", lambda reading: None)


def test_a_draft_is_kept_per_task_and_user_restored_discarded_and_audited(ctx, setup):
    view = filed(ctx, setup["alice"])
    investigate = task_named(ctx, view.instance_id, "investigate")
    with pytest.raises(PermissionDeniedError):  # only the assignee keeps a draft
        drafts.save_draft(ctx, investigate.id, {"findings": "核对中"}, actor=setup["alice"])
    tasks.claim_task(ctx, investigate.id, actor=setup["alice"])
    drafts.save_draft(ctx, investigate.id, {"findings": "核对中"}, actor=setup["alice"])
    assert drafts.get_draft(ctx, investigate.id, actor=setup["alice"]).data == {"findings": "核对中"}
    assert drafts.get_draft(ctx, investigate.id, actor=setup["bob"]) is None
    with ctx.sessions() as session:
        assert "核对中" not in session.scalars(select(TaskDraft.data_sealed)).one()
    assert drafts.discard_draft(ctx, investigate.id, actor=setup["alice"])
    assert drafts.get_draft(ctx, investigate.id, actor=setup["alice"]) is None
    drafts.save_draft(ctx, investigate.id, {"findings": "核对完毕"}, actor=setup["alice"])
    tasks.complete_task(ctx, investigate.id, actor=setup["alice"], data=FINDINGS)
    assert drafts.get_draft(ctx, investigate.id, actor=setup["alice"]) is None  # gone with the completion
    with ctx.sessions() as session:
        events = [(e.action, e.after) for e in session.scalars(select(AuditEvent).where(
            AuditEvent.stream == f"task:{investigate.id}").order_by(AuditEvent.id))]
    assert events == [("task.draft_saved", {"fields": ["findings"]}), ("task.draft_discarded", None),
                      ("task.draft_saved", {"fields": ["findings"]})]


def test_a_process_naming_an_unknown_provider_is_refused_at_deploy_with_its_element(ctx):
    from pathlib import Path

    from engine.errors import InvalidDefinitionError
    from tests.support.engine import deploy

    root = Path(__file__).resolve().parents[2]
    bpmn = (root / "processes" / "service_request.bpmn").read_text().replace(
        'name="context" value="customer_summary,earlier_decisions"', 'name="context" value="customer_summary,gossip"', 1)
    forms = [(p.name, p.read_bytes()) for p in sorted((root / "forms").glob("service_request_*.json"))]
    with pytest.raises(InvalidDefinitionError) as refused:
        deploy(ctx, ("service_request.bpmn", bpmn.encode()), *forms)
    [problem] = [p for p in refused.value.problems if p.severity == "error"]  # warnings (no groups here) come along
    assert problem.element_id == "handle_request" and "gossip" in problem.message and problem.line


def test_a_contact_task_shows_the_suitability_result_and_the_last_contacts(ctx, people):
    from tests.processes.test_cross_sell import CONTACT, add_customer, add_product, deploy_cross_sell
    from tests.support.engine import open_tasks

    deploy_cross_sell(ctx)
    add_customer(ctx, "C1", level=4)
    add_product(ctx, "PWMP1", 3, issuer=4)
    identity.create_user(ctx, username="mia", roles=["staff"], groups=["customer_managers"], password="correct horse 1")
    mia = identity.get_actor(ctx, "mia")
    lead = sales_lead(ctx, mia)
    [contact] = open_tasks(ctx, lead.instance_id)
    found = case_file.get_case_file(ctx, contact.id, actor=mia)
    assert [s.name for s in found.sections] == ["customer_summary", "suitability", "last_contacts"]
    result = facts(found, "suitability")
    assert (result["risk_level"], result["suitability_decision"], result["product"]) == ("C4", "allow", "产品PWMP1（PWMP1）")
    assert result["risk_expired"] is False
    claim_and_complete(ctx, contact.id, mia, CONTACT)
    [record] = [t for t in open_tasks(ctx, lead.instance_id) if t.task_name == "record_sale"]
    later = case_file.get_case_file(ctx, record.id, actor=mia)
    [earlier] = section(later, "earlier_decisions").submissions
    assert (earlier.element_id, earlier.by, earlier.data["contact_outcome"]) == ("contact_customer", "mia", "interested")


def sales_lead(ctx, actor):
    from engine.sales import service as sales

    return sales.create_lead(ctx, customer_id="C1", product_code="PWMP1", source="maturity", reason="定期到期",
                             actor=actor)


def test_two_readers_at_once_both_get_the_file_and_both_views_are_audited(ctx, setup, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    from engine import audit

    view = filed(ctx, setup["alice"])
    investigate = task_named(ctx, view.instance_id, "investigate")
    real, raced = audit.append, []

    def first_loses(session, **kw):  # the other reader chained after the same head first
        if not raced:
            raced.append(1)
            raise IntegrityError("INSERT INTO audit_event", {}, Exception("uq_audit_event_stream_prev_hash"))
        return real(session, **kw)

    monkeypatch.setattr(audit, "append", first_loses)
    assert section(case_file.get_case_file(ctx, investigate.id, actor=setup["alice"]), "complaint_case").facts
    assert raced == [1] and len(viewed(ctx)) == 1


def test_the_reopen_task_shows_the_customers_rating_and_comment(ctx, setup):
    from engine.views import Actor

    view = filed(ctx, setup["alice"], cause="service_attitude", amount=None)
    claim_and_complete(ctx, task_named(ctx, view.instance_id, "investigate").id, setup["alice"], FINDINGS)
    complaints.rate_complaint(ctx, view.case_no, score=1, comment="答复没有解释原因",
                              actor=Actor("customer:C1", frozenset({"customer"})))
    reopen = task_named(ctx, view.instance_id, "reopen_case")
    found = case_file.get_case_file(ctx, reopen.id, actor=setup["sue"])
    case = facts(found, "complaint_case")
    assert (case["satisfaction"], case["satisfaction_comment"]) == ("1 / 5", "答复没有解释原因")
    assert case["answer"] == FINDINGS["answer"] and case["decision"] == "upheld"
    assert [e.kind for e in section(found, "complaint_timeline").entries][-2:] == ["rated", "reopened"]
    assert facts(found, "customer_summary")["customer_name"] == "王小明"  # a supervisor's grant covers C1


def test_any_approval_task_shows_what_it_approves_a_service_request(ctx, people):
    from datetime import date
    from pathlib import Path

    from engine.services import instances
    from engine.views import SYSTEM
    from tests.support.engine import deploy, open_tasks

    root = Path(__file__).resolve().parents[2]
    deploy(ctx, ("service_request.bpmn", (root / "processes" / "service_request.bpmn").read_bytes()),
           *[(p.name, p.read_bytes()) for p in sorted((root / "forms").glob("service_request_*.json"))])
    add_customers(ctx, customer("C9", date(1970, 1, 1)))
    started = instances.start_instance(ctx, process_key="service_request", actor=SYSTEM, customer_id="C9",
                                       business_key="SR-9")
    [handle] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, handle.id, people["alice"], {"resolution": "补发银行卡并退回手续费", "amount": 60000})
    [approve] = open_tasks(ctx, started.id)
    [work] = case_file.get_case_file(ctx, approve.id, actor=people["sam"]).approves
    assert (work.element_id, work.by, work.data) == ("handle_request", "alice",
                                                     {"resolution": "补发银行卡并退回手续费", "amount": 60000})
