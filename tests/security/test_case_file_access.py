"""Attacks on the case file and drafts: reading a task that is not yours, writing or reading someone else's draft,
oversized or malformed drafts. None may read data, change state, or answer 500."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.complaints import service as complaints
from engine.complaints.service import ComplaintInput
from engine.db.models import AuditEvent
from engine.services import drafts, tasks
from tests.processes.test_complaint_handling import deploy_complaints, task_named
from tests.support.care import add_customers, customer
from tests.support.web import login
from web import create_app

FACTS = "3月1日在ATM取款2000元未出钞"


@pytest.fixture
def app(ctx, people):
    deploy_complaints(ctx)
    add_customers(ctx, customer("C1", manager="bob", name="王小明", phone="13912345678"))
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def investigate(ctx, app, people):
    view, _ = complaints.submit_complaint(ctx, ComplaintInput(
        channel="mobile_app", business_type="bank_cards", cause="fund_safety", summary="ATM未出钞", customer_id="C1",
        complainant_name="王小明", facts=FACTS, amount=Decimal("2000")), actor=people["alice"])
    return task_named(ctx, view.instance_id, "investigate")


def test_someone_outside_the_task_reads_nothing_and_leaves_no_view(ctx, app, investigate):
    client, _ = login(app, "carol")  # branch_team: not a candidate of the investigation
    response = client.get(f"/inbox/tasks/{investigate.id}")
    assert response.status_code == 403 and FACTS not in response.get_data(as_text=True)
    with ctx.sessions() as session:
        assert not session.scalars(select(AuditEvent).where(AuditEvent.actor == "carol",
                                                            AuditEvent.action == "customer.viewed")).all()


def test_nobody_writes_or_reads_another_persons_draft(ctx, app, investigate, people):
    tasks.claim_task(ctx, investigate.id, actor=people["alice"])
    drafts.save_draft(ctx, investigate.id, {"findings": "alice 的草稿"}, actor=people["alice"])
    bob, bob_csrf = login(app, "bob")  # a candidate too, but the task is alice's now
    assert bob.post(f"/inbox/tasks/{investigate.id}/draft",
                    data={"csrf_token": bob_csrf, "findings": "覆盖"}).status_code == 403
    assert bob.post(f"/inbox/tasks/{investigate.id}/discard_draft", data={"csrf_token": bob_csrf}).status_code == 302
    assert drafts.get_draft(ctx, investigate.id, actor=people["alice"]).data == {"findings": "alice 的草稿"}
    sam, _ = login(app, "sam")  # a supervisor opens the task: alice's draft is hers, not on his page
    assert "alice 的草稿" not in sam.get(f"/inbox/tasks/{investigate.id}").get_data(as_text=True)
    assert bob.post(f"/inbox/tasks/{investigate.id}/draft", data={"findings": "x"}).status_code == 400  # no CSRF


@pytest.mark.parametrize("body", [
    {"careflow_form_json": json.dumps({"findings": "x" * 70000})},
    {"careflow_form_json": json.dumps({"not a key": 1})},
    {"careflow_form_json": "[1, 2"},
])
def test_a_bad_draft_is_refused_with_a_message_not_a_500(ctx, app, investigate, people, body):
    tasks.claim_task(ctx, investigate.id, actor=people["alice"])
    client, csrf = login(app, "alice")
    response = client.post(f"/inbox/tasks/{investigate.id}/draft", data={"csrf_token": csrf, **body})
    assert response.status_code in (302, 400, 422)
    assert drafts.get_draft(ctx, investigate.id, actor=people["alice"]) is None
