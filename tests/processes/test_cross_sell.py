"""processes/cross_sell_followup.bpmn end to end: lead → suitability → contact → sale → cooling-off → revisit.

Every scenario runs straight and with every step on a fresh engine context (empty spec cache: the
instance is restored from its stored state between steps, like another worker picking it up).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from engine.context import build_engine
from engine.customers.accounts_models import CustomerHolding, Product
from engine.customers.models import Customer
from engine.db.session import unit_of_work
from engine.errors import ConflictError, PermissionDeniedError
from engine.sales import service as sales
from engine.sales.models import Sale, SalesLead
from engine.services import identity, instances, tasks
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.support.care import add_customers, customer
from tests.support.engine import claim_and_complete, deploy, open_tasks

ROOT = Path(__file__).resolve().parents[2]
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
CONTACT = {"contact_outcome": "interested", "contact_method": "phone", "risk_disclosed": True, "no_inducement": True}
REVISIT = {"revisit_method": "recorded_phone", "revisit_outcome": "confirmed", "revisit_notes": "客户确认本人购买，理解风险"}


def deploy_cross_sell(ctx):
    files = [("cross_sell_followup.bpmn", (ROOT / "processes" / "cross_sell_followup.bpmn").read_bytes()),
             ("product_suitability.dmn", (ROOT / "processes" / "product_suitability.dmn").read_bytes())]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("cross_sell_*.json"))]
    return deploy(ctx, *files)


def add_product(ctx, code, level, *, issuer=None, family="wmp", private=False, min_amount="10000", hours=0):
    with unit_of_work(ctx.sessions) as session:
        session.add(Product(code=code, name=f"产品{code}", family=family, risk_level=level, issuer_risk_level=issuer,
                            private=private, min_amount=Decimal(min_amount) if min_amount else None,
                            cooling_off_hours=hours, active=True))


def add_customer(ctx, cid, *, level=3, valid_until=date(2025, 12, 31), born=date(1980, 5, 20), qualified=False):
    add_customers(ctx, customer(cid, born))
    with unit_of_work(ctx.sessions) as session:
        row = session.get_one(Customer, cid)
        row.risk_level, row.risk_valid_until, row.qualified_investor = level, valid_until, qualified


@pytest.fixture
def staff(ctx, people):
    for name, groups in (("mia", ["customer_managers"]), ("max", ["customer_managers", "revisit_team"]),
                         ("rita", ["revisit_team"]), ("cora", ["compliance"])):
        identity.create_user(ctx, username=name, roles=["staff"], groups=groups, password="correct horse 1")
    return {name: identity.get_actor(ctx, name) for name in ("mia", "max", "rita", "cora")}


class Steps:
    """Drives one scenario; with ``fresh`` every call uses a new engine context (state restored from the DB)."""

    def __init__(self, ctx, settings, db, clock, fresh):
        self.base, self.settings, self.db, self.clock, self.fresh = ctx, settings, db, clock, fresh

    @property
    def ctx(self):
        return build_engine(self.settings, clock=self.clock, db=self.db) if self.fresh else self.base

    def only_task(self, instance_id, name):
        [task] = open_tasks(self.ctx, instance_id)
        assert task.task_name == name
        return task

    def do(self, instance_id, name, actor, data):
        return claim_and_complete(self.ctx, self.only_task(instance_id, name).id, actor, data)


@pytest.fixture(params=["straight", "save_restore"])
def steps(request, ctx, settings, db, clock):
    return Steps(ctx, settings, db, clock, request.param == "save_restore")


def test_every_element_has_a_diagram_shape():
    tree = etree.parse(str(ROOT / "processes" / "cross_sell_followup.bpmn"))
    elements = {e.get("id") for e in tree.xpath("//bpmn:process/*[@id] | //bpmn:lane | //bpmn:participant",
                                                namespaces=NS) if not e.tag.endswith("laneSet")}
    drawn = {e.get("bpmnElement") for e in tree.xpath("//bpmndi:BPMNShape | //bpmndi:BPMNEdge", namespaces=NS)}
    assert elements == drawn


def test_sale_straight_through_to_the_revisit_by_someone_other_than_the_seller(ctx, clock, staff, steps):
    deploy_cross_sell(ctx)
    add_customer(ctx, "C1", level=4)
    add_product(ctx, "PWMP1", 3, issuer=4, private=False, hours=24)
    lead = sales.create_lead(steps.ctx, customer_id="C1", product_code="PWMP1", source="maturity",
                             reason="定期到期", actor=staff["mia"])
    assert (lead.status, lead.suitability["decision"], lead.suitability["product_level"]) == ("new", "allow", 4)
    steps.do(lead.instance_id, "contact_customer", staff["mia"], CONTACT)
    steps.do(lead.instance_id, "record_sale", staff["max"],
             {"sale_decision": "buy", "amount": 50000, "channel": "branch", "double_recording_ref": "SL-2025-0001"})
    sale = sales.get_sale_for_lead(steps.ctx, lead.id, actor=SYSTEM)
    assert (sale.seller, sale.amount, sale.age_at_sale, sale.customer_level_at_sale, sale.product_level_at_sale) == (
        "max", Decimal("50000.00"), 44, 4, 4)
    assert sale.suitability_decision == "allow_with_extra_steps"  # double recording at the branch
    assert sale.cooling_off_until == datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
    assert sales.get_lead(steps.ctx, lead.id, actor=SYSTEM).status == "sold"
    with steps.ctx.sessions() as session:
        holding = session.scalars(select(CustomerHolding)).one()
        assert (holding.source, holding.sold_by, holding.amount) == ("sale", "max", Decimal("50000.00"))
    assert open_tasks(steps.ctx, lead.instance_id) == []  # waiting for the cooling-off to end
    clock.advance(timedelta(hours=23, minutes=59))
    assert fire_due_timers(steps.ctx).fired == 0
    clock.advance(timedelta(minutes=1))
    assert fire_due_timers(steps.ctx).fired == 1
    revisit = steps.only_task(lead.instance_id, "revisit_customer")
    assert revisit.candidate_groups == ("revisit_team",)
    with pytest.raises(PermissionDeniedError):
        tasks.claim_task(steps.ctx, revisit.id, actor=staff["max"])  # the seller, although in revisit_team
    assert [t.id for t in tasks.list_tasks(steps.ctx, actor=staff["max"], view="queue").items] == []
    assert [t.id for t in tasks.list_tasks(steps.ctx, actor=staff["rita"], view="queue").items] == [revisit.id]
    steps.do(lead.instance_id, "revisit_customer", staff["rita"], REVISIT)
    assert instances.get_instance(steps.ctx, lead.instance_id, actor=SYSTEM).status == "completed"
    sale = sales.get_sale_for_lead(steps.ctx, lead.id, actor=SYSTEM)
    assert (sale.revisit_by, sale.revisit_outcome) == ("rita", "confirmed")


def test_cancel_within_cooling_off_leads_to_the_refund_task(ctx, clock, staff, steps):
    deploy_cross_sell(ctx)
    add_customer(ctx, "C1", level=5, qualified=True)
    add_product(ctx, "PRIV1", 3, private=True, min_amount="300000", hours=0)
    lead = sales.create_lead(steps.ctx, customer_id="C1", product_code="PRIV1", source="campaign",
                             reason="私募固收", actor=staff["mia"])
    steps.do(lead.instance_id, "contact_customer", staff["mia"], CONTACT)
    steps.do(lead.instance_id, "record_sale", staff["mia"],
             {"sale_decision": "buy", "amount": 300000, "channel": "online"})
    sale = sales.get_sale_for_lead(steps.ctx, lead.id, actor=SYSTEM)
    assert sale.cooling_off_until == datetime(2025, 3, 4, 1, 0, tzinfo=UTC)  # private WMP: at least 24 h
    with pytest.raises(ConflictError):  # no new lead (no contact) about the product during its cooling-off
        sales.create_lead(steps.ctx, customer_id="C1", product_code="PRIV1", source="campaign", reason="再推",
                          actor=staff["mia"])
    clock.advance(timedelta(hours=20))
    cancelled = sales.cancel_in_cooling_off(steps.ctx, sale.id, actor=staff["mia"])
    assert cancelled.cancelled_at == datetime(2025, 3, 3, 21, 0, tzinfo=UTC)
    refund = steps.only_task(lead.instance_id, "refund")
    assert refund.candidate_groups == ("compliance",)
    assert sales.get_lead(steps.ctx, lead.id, actor=SYSTEM).status == "cancelled"
    with steps.ctx.sessions() as session:
        assert session.scalars(select(CustomerHolding.status)).one() == "cancelled"
    clock.advance(timedelta(hours=5))
    assert fire_due_timers(steps.ctx).fired == 0  # the cooling-off timer went with the cancellation
    steps.do(lead.instance_id, "refund", staff["cora"], {"refund_ref": "RF-001", "full_refund": True})
    assert instances.get_instance(steps.ctx, lead.instance_id, actor=SYSTEM).status == "completed"


def test_cancel_after_the_cooling_off_is_refused(ctx, clock, staff):
    deploy_cross_sell(ctx)
    add_customer(ctx, "C1", level=5)
    add_product(ctx, "INS1", 2, family="insurance", min_amount=None)
    lead = sales.create_lead(ctx, customer_id="C1", product_code="INS1", source="life_event", reason="新生儿",
                             actor=staff["mia"])
    claim_and_complete(ctx, open_tasks(ctx, lead.instance_id)[0].id, staff["mia"], CONTACT)
    claim_and_complete(ctx, open_tasks(ctx, lead.instance_id)[0].id, staff["mia"],
                       {"sale_decision": "buy", "amount": 8000, "channel": "online"})
    sale = sales.get_sale_for_lead(ctx, lead.id, actor=SYSTEM)
    assert sale.cooling_off_until == datetime(2025, 3, 18, 1, 0, tzinfo=UTC)  # insurance: 15 days
    clock.advance(timedelta(days=15))
    fire_due_timers(ctx)
    with pytest.raises(ConflictError):
        sales.cancel_in_cooling_off(ctx, sale.id, actor=staff["mia"])
    assert open_tasks(ctx, lead.instance_id)[0].task_name == "revisit_customer"


def test_blocked_lead_ends_without_contact(ctx, staff):
    deploy_cross_sell(ctx)
    add_customer(ctx, "C1", level=2)
    add_product(ctx, "EQ5", 3, issuer=5)
    lead = sales.create_lead(ctx, customer_id="C1", product_code="EQ5", source="prediction", reason="模型推荐",
                             actor=staff["mia"])
    assert lead.status == "blocked"
    assert [r["code"] for r in lead.suitability["reasons"]] == ["level_mismatch"]
    assert instances.get_instance(ctx, lead.instance_id, actor=SYSTEM).status == "completed"
    again = sales.create_lead(ctx, customer_id="C1", product_code="EQ5", source="prediction", reason="再试",
                              actor=staff["mia"])
    assert again.created and again.id != lead.id  # a closed lead does not hold the customer+product


def test_an_open_lead_is_returned_not_duplicated(ctx, staff):
    deploy_cross_sell(ctx)
    add_customer(ctx, "C1")
    add_product(ctx, "W1", 2)
    first = sales.create_lead(ctx, customer_id="C1", product_code="W1", source="campaign", reason="a",
                              actor=staff["mia"])
    second = sales.create_lead(ctx, customer_id="C1", product_code="W1", source="campaign", reason="b",
                               actor=staff["mia"])
    assert (second.id, second.created, first.created) == (first.id, False, True)
    assert [lead.id for lead in sales.list_leads(ctx, actor=staff["mia"], customer_id="C1")] == [first.id]


def test_elderly_high_risk_sale_needs_a_second_staff_check(ctx, staff):
    deploy_cross_sell(ctx)
    add_customer(ctx, "OLD", level=5, born=date(1960, 3, 3))  # 65 on 2025-03-03
    add_product(ctx, "R4", 4)
    lead = sales.create_lead(ctx, customer_id="OLD", product_code="R4", source="campaign", reason="x",
                             actor=staff["mia"])
    assert lead.suitability["extra_steps"] == ["elderly_special_care"]
    identity.create_user(ctx, username="cleo", roles=["staff"], groups=["customer_managers", "compliance"],
                         password="correct horse 1")
    cleo = identity.get_actor(ctx, "cleo")
    [contact] = open_tasks(ctx, lead.instance_id)
    claim_and_complete(ctx, contact.id, cleo, CONTACT)
    [check] = open_tasks(ctx, lead.instance_id)
    assert (check.task_name, check.candidate_groups) == ("extra_care_check", ("compliance",))
    with pytest.raises(PermissionDeniedError):  # four eyes: not the manager who made the contact
        tasks.claim_task(ctx, check.id, actor=cleo)
    claim_and_complete(ctx, check.id, staff["cora"], {"risk_reconfirmed": True, "customer_understands": True,
                                                      "care_confirmed": True, "check_notes": "已重新确认风险"})
    [sale_task] = open_tasks(ctx, lead.instance_id)
    assert sale_task.task_name == "record_sale"


def test_sale_under_the_minimum_or_without_double_recording_comes_back(ctx, staff):
    deploy_cross_sell(ctx)
    add_customer(ctx, "C1", level=3)
    add_product(ctx, "W3", 3, min_amount="10000")
    lead = sales.create_lead(ctx, customer_id="C1", product_code="W3", source="campaign", reason="x",
                             actor=staff["mia"])
    claim_and_complete(ctx, open_tasks(ctx, lead.instance_id)[0].id, staff["mia"], CONTACT)
    [task] = open_tasks(ctx, lead.instance_id)
    claim_and_complete(ctx, task.id, staff["mia"], {"sale_decision": "buy", "amount": 9999.99, "channel": "online"})
    [again] = open_tasks(ctx, lead.instance_id)
    assert again.task_name == "record_sale"
    data = tasks.get_task(ctx, again.id, actor=staff["mia"]).data
    assert [r["code"] for r in data["sale"]["reasons"]] == ["below_minimum"]
    claim_and_complete(ctx, again.id, staff["mia"], {"sale_decision": "buy", "amount": 10000, "channel": "branch"})
    [third] = open_tasks(ctx, lead.instance_id)
    data = tasks.get_task(ctx, third.id, actor=staff["mia"]).data
    assert data["sale"]["reasons"][0]["code"] == "double_recording_missing"
    claim_and_complete(ctx, third.id, staff["mia"], {"sale_decision": "no_sale"})
    assert sales.get_lead(ctx, lead.id, actor=SYSTEM).status == "declined"
    with ctx.sessions() as session:
        assert session.scalars(select(Sale)).all() == []


def test_maturity_scan_opens_one_lead_per_maturing_holding_and_reruns_safely(ctx, staff):
    deploy_cross_sell(ctx)
    add_customer(ctx, "C1")
    add_customer(ctx, "C2")
    add_product(ctx, "TD1", 1, family="deposit", min_amount=None)
    with unit_of_work(ctx.sessions) as session:
        for cid, matures in (("C1", date(2025, 4, 2)), ("C2", date(2025, 4, 3))):
            session.add(CustomerHolding(customer_id=cid, product_code="TD1", amount=Decimal("100000"),
                                        bought_on=date(2024, 4, 2), matures_on=matures, status="held", source="import"))
    first = sales.scan_maturity_leads(ctx, date(2025, 3, 3))
    assert (first.started, first.skipped) == (1, 0)  # C2 matures on day 31
    again = sales.scan_maturity_leads(ctx, date(2025, 3, 3))
    assert (again.started, again.skipped) == (0, 1)
    with ctx.sessions() as session:
        [lead] = session.scalars(select(SalesLead)).all()
        assert (lead.customer_id, lead.source, lead.status) == ("C1", "maturity", "new")
