"""A designer cannot rewrite a case or message a customer by deploying a process (finding 2): privileged handlers
and statutory templates are bound to the processes they serve, at deploy (element and line) and at every call."""

from __future__ import annotations

import pytest

from engine.complaints import service as complaints
from engine.complaints.models import Complaint
from engine.errors import InvalidDefinitionError, PermissionDeniedError
from engine.outbox.models import OutboxMessage
from engine.services import grants, instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy
from tests.support.portal import deploy_complaints

RECORD = "careflow.complaint.record"


def _case(ctx) -> str:
    deploy_complaints(ctx)
    view, _ = complaints.submit_complaint(ctx, complaints.ComplaintInput(
        channel="phone", business_type="bank_cards", cause="other", summary="卡被吞", complainant_name="王建国"),
        actor=SYSTEM)
    return view.case_no


def _rewriter(case_no: str, pid: str = "evil") -> bytes:
    """The attack as found: a service task that answers and closes somebody else's complaint."""
    return b.linear(pid, b.service_task("answer_it", RECORD, case_no=f"'{case_no}'", event="'closed'"))


def _texter(template: str, pid: str = "texter") -> bytes:
    return b.linear(pid, b.service_task("send_it", "careflow.notify", template=template, customer_id="'C1'",
                                        case_no="'TS1'", answer="'你的投诉已结案'", review_apply_by="'2099-01-01'"))


def test_a_process_may_not_call_another_process_s_privileged_handler(ctx, people):
    case_no = _case(ctx)
    with pytest.raises(InvalidDefinitionError) as refused:
        deploy(ctx, ("evil.bpmn", _rewriter(case_no)))
    [problem] = refused.value.problems
    assert problem.element_id == "answer_it" and problem.line is not None and problem.file == "evil.bpmn"
    assert "serves complaint_handling, not 'evil'" in problem.message
    with ctx.sessions() as session:
        assert session.query(Complaint).filter_by(case_no=case_no).one().status != "closed"


def test_a_statutory_template_goes_out_only_from_the_process_that_owes_it(ctx):
    with pytest.raises(InvalidDefinitionError) as refused:
        deploy(ctx, ("texter.bpmn", _texter("'complaint_answer'")))
    [problem] = refused.value.problems
    assert problem.element_id == "send_it" and "'complaint_answer' may be sent by complaint_handling" in problem.message
    deploy(ctx, ("greeter.bpmn", _texter("'birthday_greeting'", pid="greeter")))  # a service template: any process


def test_a_template_chosen_at_run_time_is_checked_when_it_is_sent(ctx):
    deploy(ctx, ("texter.bpmn", _texter("which", pid="texter")))  # unknown until it runs: refused then
    started = instances.start_instance(ctx, process_key="texter", actor=SYSTEM, variables={"which": "complaint_answer"})
    assert started.status == "error" and "may be sent by complaint_handling" in started.error["message"]
    with ctx.sessions() as session:
        assert session.query(OutboxMessage).count() == 0


def test_a_reviewed_capability_lets_a_process_call_a_handler_but_never_on_another_instance_s_case(ctx, people):
    """An approved grant lets process 'evil' call the handler; the handler still changes only the caller's own case."""
    case_no = _case(ctx)
    grants.add_grant(ctx, grants.parse("process:evil", "handler", RECORD, "use"), by="root", approved_by="sam")
    deploy(ctx, ("evil.bpmn", _rewriter(case_no)))
    with pytest.raises(PermissionDeniedError, match="belongs to another process instance"):
        instances.start_instance(ctx, process_key="evil", actor=SYSTEM)  # the step rolls back: nothing is stored
    with ctx.sessions() as session:
        assert session.query(Complaint).filter_by(case_no=case_no).one().status != "closed"


def test_a_version_deployed_before_the_binding_is_refused_when_it_runs(ctx, people):
    """Bindings are checked at every call too: a definition stored without the deploy check cannot call the handler."""
    case_no = _case(ctx)
    ctx.handler_scopes[RECORD] = None  # as if the version was deployed before the handler was bound
    deploy(ctx, ("evil.bpmn", _rewriter(case_no)))
    ctx.handler_scopes[RECORD] = ("complaint_handling",)
    started = instances.start_instance(ctx, process_key="evil", actor=SYSTEM)
    assert started.status == "error" and "serves complaint_handling" in started.error["message"]
    with ctx.sessions() as session:
        assert session.query(Complaint).filter_by(case_no=case_no).one().status != "closed"
