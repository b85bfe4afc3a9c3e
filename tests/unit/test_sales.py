"""Sales services (engine.sales.service) and the ``excludeUsers`` task property they rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.db.models import AuditEvent
from engine.db.session import unit_of_work
from engine.errors import InvalidDefinitionError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.sales import service as sales
from engine.sales.models import Sale, SalesLead
from engine.services import instances, tasks
from engine.views import SYSTEM, Actor
from tests.processes.test_cross_sell import add_customer, add_product, deploy_cross_sell
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks


def _four_eyes(ctx, exclude: str, assignment: str = "queue"):
    xml = b.linear("four_eyes", b.user_task("prepare", candidateGroups="service_team"),
                   b.user_task("check", candidateGroups="service_team", excludeUsers=exclude, assignment=assignment))
    deploy(ctx, ("four_eyes.bpmn", xml))


def test_exclude_users_keeps_the_previous_performer_off_the_task(ctx, people):
    _four_eyes(ctx, 'performers.get("prepare")')
    started = instances.start_instance(ctx, process_key="four_eyes", actor=people["alice"])
    [prepare] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, prepare.id, people["alice"])
    [check] = open_tasks(ctx, started.id)
    with pytest.raises(PermissionDeniedError):
        tasks.claim_task(ctx, check.id, actor=people["alice"])
    assert tasks.list_tasks(ctx, actor=people["alice"], view="queue").items == []
    assert [t.id for t in tasks.list_tasks(ctx, actor=people["bob"], view="queue").items] == [check.id]
    assert "claim" in tasks.get_task(ctx, check.id, actor=people["bob"]).actions
    with pytest.raises(PermissionDeniedError):
        tasks.get_task(ctx, check.id, actor=people["alice"])
    with pytest.raises(PermissionDeniedError):
        tasks.assign_task(ctx, check.id, actor=people["sam"], assignee="alice")
    assert tasks.assign_task(ctx, check.id, actor=people["sam"], assignee="bob").assignee == "bob"
    with pytest.raises(PermissionDeniedError):
        tasks.delegate_task(ctx, check.id, actor=people["bob"], to="alice")
    tasks.complete_task(ctx, check.id, actor=people["bob"], data={})
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).status == "completed"


def test_exclude_users_from_task_data_also_binds_supervisors_and_routing(ctx, people):
    _four_eyes(ctx, "[seller, None]", assignment="round_robin")
    routed = {}
    for seller in ("alice", "sam"):
        started = instances.start_instance(ctx, process_key="four_eyes", actor=people["sam"],
                                           variables={"seller": seller})
        [prepare] = open_tasks(ctx, started.id)
        claim_and_complete(ctx, prepare.id, people["bob"])
        [check] = open_tasks(ctx, started.id)
        routed[seller] = check
    # Round robin over service_team (alice, bob, sam) would start with alice, then go on to sam.
    assert (routed["alice"].assignee, routed["sam"].assignee) == ("bob", "alice")
    tasks.unclaim_task(ctx, routed["sam"].id, actor=people["sam"])
    with pytest.raises(PermissionDeniedError):
        tasks.claim_task(ctx, routed["sam"].id, actor=people["sam"])  # a supervisor, but the seller


def test_a_broken_exclude_users_expression_is_refused_at_deploy(ctx):
    with pytest.raises(InvalidDefinitionError, match="excludeUsers"):
        _four_eyes(ctx, "performers[")


def test_check_suitability_is_audited_on_the_customer(ctx, people):
    add_customer(ctx, "C1", level=3)
    add_product(ctx, "W4", 4)
    decision = sales.check_suitability(ctx, customer_id="C1", product_code="W4", actor=people["alice"])
    assert (decision.decision, [r.code for r in decision.reasons]) == ("block", ["level_mismatch"])
    add_product(ctx, "W2", 2, min_amount="10000")
    low = sales.check_suitability(ctx, customer_id="C1", product_code="W2", amount="5000", channel="branch",
                                  actor=people["alice"])
    assert [r.code for r in low.reasons] == ["below_minimum", "branch_double_recording"]
    with ctx.sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.stream == "customer:C1")
                                 .order_by(AuditEvent.id)).all()
    assert [(e.action, e.after["decision"]) for e in events] == [("suitability.checked", "block")] * 2
    with pytest.raises(InvalidInputError):
        sales.check_suitability(ctx, customer_id="C1", product_code="W2", amount="-1", actor=people["alice"])
    with pytest.raises(NotFoundError):
        sales.check_suitability(ctx, customer_id="C1", product_code="NOPE", actor=people["alice"])


def test_create_lead_checks_its_input(ctx, people):
    deploy_cross_sell(ctx)
    add_customer(ctx, "C1")
    add_product(ctx, "W1", 1)
    with pytest.raises(InvalidInputError):
        sales.create_lead(ctx, customer_id="C1", product_code="W1", source="cold_call", reason="", actor=people["alice"])
    with pytest.raises(NotFoundError):
        sales.create_lead(ctx, customer_id="C1", product_code="NOPE", source="campaign", reason="", actor=people["alice"])
    with pytest.raises(PermissionDeniedError):
        sales.create_lead(ctx, customer_id="C1", product_code="W1", source="campaign", reason="", actor=Actor("nobody"))
    lead = sales.create_lead(ctx, customer_id="C1", product_code="W1", source="large_deposit", reason="大额入账",
                             actor=people["alice"])
    assert [x.id for x in sales.list_leads(ctx, actor=people["bob"], status="new")] == [lead.id]
    assert sales.list_leads(ctx, actor=people["bob"], status="sold") == []
    with pytest.raises(InvalidInputError):
        sales.list_leads(ctx, actor=people["bob"], status="won")


def test_in_cooling_off_ends_with_the_period_or_the_cancellation(ctx):
    add_customer(ctx, "C1")
    add_product(ctx, "P1", 2)
    now = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
    with unit_of_work(ctx.sessions) as session:
        session.add(SalesLead(id="L1", customer_id="C1", product_code="P1", source="campaign", reason="", status="sold",
                              created_by="t", created_at=now, updated_at=now))
        session.flush()
        session.add(Sale(lead_id="L1", customer_id="C1", product_code="P1", amount=Decimal("1"), channel="online",
                         seller="alice", sold_at=now, age_at_sale=44, customer_level_at_sale=3,
                         product_level_at_sale=2, suitability_decision="allow", suitability={},
                         cooling_off_until=now + timedelta(hours=24)))
    with ctx.sessions() as session:
        assert sales.in_cooling_off(session, "C1", "P1", now + timedelta(hours=23))
        assert not sales.in_cooling_off(session, "C1", "P1", now + timedelta(hours=24))
        assert not sales.in_cooling_off(session, "C1", "OTHER", now)
