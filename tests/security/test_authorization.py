"""Permissions, not role names: the findings of the trust probe about who may do what (1, 5, 9), pinned.

Each test does what the probe did against a fresh server and checks the refusal, that nothing changed, and that
the legitimate path still works.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.complaints import service as complaints
from engine.customers import customer360
from engine.db.models import AuditEvent, ProcessDefinition
from engine.errors import InvalidInputError, PermissionDeniedError
from engine.services import approvals, definitions, grants, identity, instances, migration
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.bpmn import files
from tests.support.care import add_customers, customer
from tests.support.engine import deploy
from tests.support.portal import deploy_complaints
from web import create_app


@pytest.fixture
def client(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx).test_client()


def _bearer(ctx, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {identity.create_token(ctx, username=name)}"}


def _case(ctx, customer_id: str = "C1") -> complaints.ComplaintView:
    deploy_complaints(ctx)
    add_customers(ctx, customer(customer_id, name="王建国", phone="13900001111"))
    view, _ = complaints.submit_complaint(ctx, complaints.ComplaintInput(
        channel="phone", business_type="bank_cards", cause="other", summary="卡被吞", customer_id=customer_id),
        actor=SYSTEM)
    return view


# --- finding 1: nobody forges a customer's act -----------------------------------------------------------------------

@pytest.mark.parametrize("who", ["dora", "alice", "sam", "root"])
def test_no_role_can_send_a_customer_s_withdrawal_as_a_message(client, ctx, people, who):
    """As found: POST /api/v1/messages with complaint.withdrawn and a case number withdrew a real complaint."""
    case = _case(ctx)
    response = client.post("/api/v1/messages", headers=_bearer(ctx, who), json={
        "name": "complaint.withdrawn", "message_id": f"forged-{who}", "correlation": {"case_no": case.case_no},
        "payload": {"case_no": case.case_no, "reason": "客户要求撤回", "by": "customer:C1"}})
    assert response.status_code == 403 and response.json["error"]["details"]["resource"] == "message:complaint.withdrawn"
    after = complaints.get_complaint(ctx, case.case_no, actor=people["sam"])
    assert after.status == case.status and [e.kind for e in after.events] == [e.kind for e in case.events]


def test_staff_record_a_customer_s_withdrawal_only_with_its_evidence_and_the_case_names_them(ctx, people):
    case = _case(ctx)
    with pytest.raises(PermissionDeniedError, match="customer's own act"):
        complaints.withdraw_complaint(ctx, case.case_no, reason="来电", actor=people["alice"])
    with pytest.raises(InvalidInputError):
        complaints.withdraw_complaint(ctx, case.case_no, actor=people["alice"],
                                      on_behalf=complaints.OnBehalf("phone", "  "))
    done = complaints.withdraw_complaint(ctx, case.case_no, reason="问题已解决", actor=people["alice"],
                                         on_behalf=complaints.OnBehalf("phone", "REC-20250303-0042"))
    [event] = [e for e in done.events if e.kind == "withdrawn"]
    assert event.actor == "alice"  # not "customer": the staff member who recorded it
    assert event.recorded_for_customer == {"recorded_by": "alice", "channel": "phone",
                                           "reference": "REC-20250303-0042", "note": ""}


def test_a_message_without_its_correlation_value_is_a_clear_4xx_not_a_500(client, ctx, people):
    """As found: a payload without the correlation key raised NameError in the correlation expression (500)."""
    xml = b.definitions(
        "reply_flow", [b.start(), b.message_catch("wait", "customer_reply", "reply", correlate="case_no"),
                       b.user_task("read", candidateGroups="service_team"), b.end()],
        [b.flow("start", "wait"), b.flow("wait", "read"), b.flow("read", "end")],
        root=b.message_defs("customer_reply", "case_no"), collaboration=b.correlation_key("case", "case_no"))
    deploy(ctx, ("reply.bpmn", xml))
    started = instances.start_instance(ctx, process_key="reply_flow", actor=SYSTEM, variables={"case_no": "A-1"})
    response = client.post("/api/v1/messages", headers=_bearer(ctx, "sam"), json={
        "name": "customer_reply", "message_id": "no-key", "correlation": {"case_no": "A-1"}, "payload": {"text": "好"}})
    assert response.status_code == 400 and "correlation value 'case_no'" in response.json["error"]["message"]
    view = instances.get_instance(ctx, started.id, actor=SYSTEM)
    assert view.status == "running" and view.open_tasks == []  # still waiting, unharmed


def test_an_api_caller_cannot_use_up_another_sender_s_message_ids(client, ctx, people):
    """Idempotency keys are (source, message_id): a caller's source is its own, whatever it sends."""
    response = client.post("/api/v1/messages", headers=_bearer(ctx, "sam"), json={
        "name": "nobody_waits", "message_id": "TS1:withdrawn", "source": "complaints"})
    assert response.status_code == 409  # nobody waits, and nothing was recorded under "complaints"


# --- finding 5: changes to live work need a second person ---------------------------------------------------------------

def _deployed_v1_with_a_live_instance(ctx):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("review", candidateGroups="service_team"))))
    return instances.start_instance(ctx, process_key="p", actor=SYSTEM)


def test_a_new_version_of_a_process_with_live_instances_waits_for_a_second_designer(ctx, people):
    live = _deployed_v1_with_a_live_instance(ctx)
    v2 = b.linear("p", b.user_task("review", candidateGroups="service_team"), b.user_task("check"))
    result = definitions.deploy_definition(ctx, files=files(("p.bpmn", v2)), actor=people["dora"])
    assert result is not None and result.approval_id is not None and result.definition.version == 1
    assert definitions.get_definition(ctx, "p").version == 1  # nothing went live
    with pytest.raises(PermissionDeniedError, match="second person"):
        approvals.approve(ctx, result.approval_id, actor=people["dora"])
    identity.create_user(ctx, username="dan", roles=["designer"], password="correct horse 1")
    approved = approvals.approve(ctx, result.approval_id, actor=identity.get_actor(ctx, "dan"))
    assert approved.status == "approved" and approved.result == {"version": 2, "created": True}
    with ctx.sessions() as session:
        row = session.scalars(select(ProcessDefinition).where(ProcessDefinition.version == 2)).one()
        assert row.deployed_by == "dora"
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "definition.deployed")
                                .order_by(AuditEvent.id.desc())).first()
        assert event.after["approved_by"] == "dan" and event.after["requested_by"] == "dora"
    assert instances.get_instance(ctx, live.id, actor=SYSTEM).definition_version == 1  # deploying moves nobody


def test_migrating_live_instances_waits_for_a_second_person(ctx, people):
    live = _deployed_v1_with_a_live_instance(ctx)
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("review", candidateGroups="service_team"), b.user_task("x"))))
    asked = migration.migrate_instances(ctx, process_key="p", actor=people["dora"])
    assert asked.approval_id is not None and not any(i.migrated for i in asked.instances)
    assert instances.get_instance(ctx, live.id, actor=SYSTEM).definition_version == 1
    approved = approvals.approve(ctx, asked.approval_id, actor=people["sam"])  # a supervisor is a checker too
    assert approved.result["migrated"] == 1
    assert instances.get_instance(ctx, live.id, actor=SYSTEM).definition_version == 2
    history = instances.get_instance(ctx, live.id, actor=SYSTEM).history
    moved = [h for h in history if h.action == "instance.migrated"][0]
    assert (moved.actor, moved.details["approved_by"]) == ("dora", "sam")


def test_a_rejected_change_never_happens_and_says_why(ctx, people):
    _deployed_v1_with_a_live_instance(ctx)
    v2 = b.linear("p", b.user_task("review", candidateGroups="service_team"), b.user_task("check"))
    result = definitions.deploy_definition(ctx, files=files(("p.bpmn", v2)), actor=people["dora"])
    rejected = approvals.reject(ctx, result.approval_id, actor=people["sam"], reason="先在测试环境验证")
    assert (rejected.status, rejected.reason) == ("rejected", "先在测试环境验证")
    assert definitions.get_definition(ctx, "p").version == 1


# --- finding 9: reads within scope, with a purpose; administrators never alone ------------------------------------------

def test_staff_list_and_open_only_the_customers_their_grant_covers(ctx, people):
    add_customers(ctx, customer("A1", manager="alice", branch="朝阳支行"), customer("B1", manager="bob", branch="东城支行"))
    assert [c.id for c in customer360.list_customers(ctx, actor=people["alice"]).items] == ["A1"]
    with pytest.raises(PermissionDeniedError):
        customer360.customer_360(ctx, "B1", people["alice"])
    grants.add_grant(ctx, grants.parse("user:alice", "customer", "branch:东城支行", "read"), by="root", approved_by="ada")
    assert [c.id for c in customer360.list_customers(ctx, actor=people["alice"]).items] == ["A1", "B1"]
    assert customer360.customer_360(ctx, "B1", people["alice"]).name == "王小明"  # her branch now: full name
    with ctx.sessions() as session:
        viewed = session.scalars(select(AuditEvent).where(AuditEvent.action == "customer.viewed")).all()
    assert [(e.stream, e.actor, e.after) for e in viewed] == [("customer:B1", "alice", {"purpose": "branch"})]


def test_a_phone_is_revealed_only_with_a_purpose(ctx, people):
    add_customers(ctx, customer("A1", manager="alice", phone="13912345678"))
    with pytest.raises(InvalidInputError):
        customer360.reveal_contact(ctx, "A1", "phone", people["alice"], reason=" ")
    assert customer360.reveal_contact(ctx, "A1", "phone", people["alice"], reason="生日回访") == "13912345678"


def test_designers_and_outsiders_do_not_read_an_instance_s_business_key_and_customer(client, ctx, people):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("review", candidateGroups="branch_team"))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM, business_key="ACC-9", customer_id="A1")
    for who in ("dora", "alice"):
        response = client.get(f"/api/v1/instances/{started.id}", headers=_bearer(ctx, who))
        assert response.status_code == 403 and "ACC-9" not in response.get_data(as_text=True)
    assert client.get(f"/api/v1/instances/{started.id}", headers=_bearer(ctx, "carol")).status_code == 200  # her group


def test_an_administrator_cannot_give_himself_a_role(ctx, people):
    with pytest.raises(PermissionDeniedError, match="own roles"):
        identity.update_user(ctx, "root", actor=people["root"], roles=["admin", "supervisor"])


def test_a_privileged_role_waits_for_a_second_administrator(ctx, people):
    identity.create_user(ctx, username="ada", roles=["admin"], password="correct horse 1")
    view = identity.update_user(ctx, "alice", actor=people["root"], roles=["staff", "supervisor"])
    assert view.approval_id is not None and identity.get_actor(ctx, "alice").roles == frozenset({"staff"})
    with pytest.raises(PermissionDeniedError):
        approvals.approve(ctx, view.approval_id, actor=people["root"])
    approvals.approve(ctx, view.approval_id, actor=identity.get_actor(ctx, "ada"))
    assert identity.get_actor(ctx, "alice").roles == frozenset({"staff", "supervisor"})


def test_an_administrator_s_own_token_works_only_once_another_administrator_approves_it(client, ctx, people):
    identity.create_user(ctx, username="ada", roles=["admin"], password="correct horse 1")
    token = identity.create_token(ctx, username="root", name="laptop", actor="root")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401
    [pending] = [a for a in approvals.list_approvals(ctx, actor=identity.get_actor(ctx, "ada")) if a.kind == "token"]
    with pytest.raises(PermissionDeniedError):
        approvals.approve(ctx, pending.id, actor=people["root"])
    approvals.approve(ctx, pending.id, actor=identity.get_actor(ctx, "ada"))
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    staff_token = identity.create_token(ctx, username="alice", actor="root")  # no privileged role: at once
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {staff_token}"}).status_code == 200


def test_a_grant_counts_only_once_a_second_administrator_approves_it_and_every_change_is_audited(ctx, people):
    identity.create_user(ctx, username="ada", roles=["admin"], password="correct horse 1")
    spec = grants.parse("user:alice", "process", "p", "manage")
    asked = grants.request_grant(ctx, spec, actor=people["root"])
    assert not ctx.grants.allows(people["alice"], "manage", "process", "p")
    approvals.approve(ctx, asked.id, actor=identity.get_actor(ctx, "ada"))
    assert ctx.grants.allows(people["alice"], "manage", "process", "p")
    [granted] = [g for g in grants.list_grants(ctx, actor=people["root"]) if g.principal == "user:alice"]
    grants.revoke_grant(ctx, granted.id, actor=people["root"])
    assert not ctx.grants.allows(people["alice"], "manage", "process", "p")
    with ctx.sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.stream == "grants"))]
    assert actions == ["grant.added", "grant.revoked"]
