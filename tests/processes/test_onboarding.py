"""customer_onboarding end to end: identify → KYC → questionnaire → tier (DMN) → manager → welcome → first contact."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from lxml import etree
from sqlalchemy import func, select

from engine.context import build_engine
from engine.customers.accounts_models import RiskAssessment, TierChange
from engine.customers.models import Consent, Customer
from engine.db.models import AuditEvent
from engine.outbox.models import OutboxMessage
from engine.privacy import customer_field
from engine.services import identity, instances, tasks
from engine.views import SYSTEM
from tests.support.care import ROOT, add_customers, customer
from tests.support.engine import claim_and_complete, deploy, open_tasks

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
ID_NUMBER = "110101199003071233"  # valid check digit; born 1990-03-07, male
APPLICANT = {"name": "李雷", "id_number": ID_NUMBER, "phone": "13912345678", "branch": "浦东支行", "language": "zh-CN"}
KYC = {"occupation": "professional", "address": "上海市浦东新区世纪大道100号", "income_band": "500k_1m",
       "source_of_funds": "salary", "initial_assets": 300000, "preferred_channel": "sms", "marketing_channels": ["sms"],
       "kyc_confirmed": True}
RISK = {"risk_age": "31_45", "risk_income": "500k_1m", "risk_share": "30_50", "risk_experience": "funds",
        "risk_horizon": "1_3y", "risk_goal": "balanced", "risk_loss": "10_30"}  # 5+4+3+3+3+3+3 = 24 → C3


def deploy_onboarding(ctx):
    forms = [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("*.json"))]
    deploy(ctx, ("customer_onboarding.bpmn", (ROOT / "processes" / "customer_onboarding.bpmn").read_bytes()),
           ("customer_tier.dmn", (ROOT / "processes" / "customer_tier.dmn").read_bytes()), *forms)


@pytest.fixture
def staff(ctx):
    specs = {"fd": ["front_desk"], "cmp": ["compliance"], "wm1": ["branch_wealth_managers"],
             "wm2": ["branch_wealth_managers"], "cm1": ["customer_managers"]}
    for name, groups in specs.items():
        identity.create_user(ctx, username=name, display_name=f"经理{name}", roles=["staff"], groups=groups,
                             password="correct horse 1")
    return {name: identity.get_actor(ctx, name) for name in specs}


def _task(ctx, instance_id, name):
    [task] = [t for t in open_tasks(ctx, instance_id) if t.task_name == name]
    return task


def _customers(ctx):
    with ctx.sessions() as session:
        return list(session.scalars(select(Customer).order_by(Customer.id)))


def test_every_element_has_a_diagram_shape():
    tree = etree.parse(str(ROOT / "processes" / "customer_onboarding.bpmn"))
    elements = {e.get("id") for e in tree.xpath("//bpmn:process/*[@id] | //bpmn:lane | //bpmn:participant",
                                                namespaces=NS) if not e.tag.endswith("laneSet")}
    drawn = {e.get("bpmnElement") for e in tree.xpath("//bpmndi:BPMNShape | //bpmndi:BPMNEdge", namespaces=NS)}
    assert elements == drawn
    lanes = {lane.get("name") for lane in tree.xpath("//bpmn:lane", namespaces=NS)}
    assert lanes == {"柜面/客户经理", "合规", "系统"}  # English in careflow:nameEn


@pytest.mark.parametrize("fresh_context_per_step", [False, True], ids=["straight", "save-restore"])
def test_onboarding_straight_through(ctx, clock, settings, db, staff, fresh_context_per_step):
    deploy_onboarding(ctx)
    add_customers(ctx, customer("OLD1", manager="wm1", id_number="11010519491231002X"))  # wm1 already has a customer

    def step():  # save → restore: a new context has no cached spec and nothing in memory
        return build_engine(settings, clock=clock, db=db) if fresh_context_per_step else ctx

    started = instances.start_instance(step(), process_key="customer_onboarding", actor=staff["fd"])
    claim_and_complete(step(), _task(step(), started.id, "identify").id, staff["fd"], {"applicant": APPLICANT})
    claim_and_complete(step(), _task(step(), started.id, "know_customer").id, staff["fd"], {"kyc": KYC})
    claim_and_complete(step(), _task(step(), started.id, "risk_questionnaire").id, staff["fd"], {"risk": RISK})

    [first] = open_tasks(step(), started.id)
    new = [c for c in _customers(ctx) if c.id != "OLD1"]
    assert len(new) == 1
    row = new[0]
    assert (row.name, row.birth_date, row.gender, row.branch) == ("李雷", date(1990, 3, 7), "M", "浦东支行")
    assert ID_NUMBER not in (row.id_number_enc or "") and "13912345678" not in (row.phone_enc or "")
    assert ctx.cipher.decrypt(row.id_number_enc, customer_field("id_number", row.id)) == ID_NUMBER
    assert ctx.cipher.decrypt(row.phone_enc, customer_field("phone", row.id)) == "13912345678"
    assert (row.occupation, row.income_band, row.source_of_funds) == ("professional", "500k_1m", KYC["source_of_funds"])
    assert "世纪大道" not in (row.address_enc or "")
    assert ctx.cipher.decrypt(row.address_enc, customer_field("address", row.id)) == KYC["address"]
    assert row.id_number_index == ctx.cipher.index(ID_NUMBER)
    assert (row.tier, row.aum, row.manager) == ("platinum", Decimal("300000.00"), "wm2")
    assert (row.risk_level, row.risk_valid_until, row.customer_since) == (3, date(2026, 3, 3), date(2025, 3, 3))
    with ctx.sessions() as session:
        [change] = session.scalars(select(TierChange).where(TierChange.customer_id == row.id))
        assert (change.tier, change.previous_tier, change.reason, change.actor) == ("platinum", "mass", "onboarding", "fd")
        [assessment] = session.scalars(select(RiskAssessment).where(RiskAssessment.customer_id == row.id))
        assert (assessment.level, assessment.score, assessment.assessed_by) == (3, 24, "fd")
        assert assessment.questionnaire_version == "2025.1" and assessment.instance_id == started.id
        consents = {c.channel: c.granted for c in session.scalars(select(Consent).where(
            Consent.customer_id == row.id, Consent.purpose == "marketing"))}
        assert consents == {"sms": True, "email": False, "wechat": False, "inapp": False}
        [welcome] = session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == row.id))
        assert (welcome.template, welcome.purpose, welcome.params["manager_name"]) == ("welcome", "service", "经理wm2")
        actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.stream == f"customer:{row.id}")))
        assert {"customer.onboarded", "customer.risk_assessed", "customer.tier_changed",
                "customer.manager_assigned"} <= actions
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).customer_id == row.id
    assert (first.task_name, first.assignee, first.status, first.customer_id) == ("first_contact", "wm2", "claimed", row.id)
    assert first.due_at == datetime(2025, 3, 6, 1, 0, tzinfo=UTC)  # 3 working days after Monday 09:00 Shanghai
    tasks.complete_task(step(), first.id, actor=staff["wm2"], data={
        "contact_method": "phone", "contact_outcome": "reached", "contact_notes": "已电话介绍服务"})
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).status == "completed"


@pytest.mark.parametrize(("name", "reason"), [("王小明", "same_person"), ("张三", "name_mismatch")])
def test_a_known_id_number_goes_to_compliance_and_creates_no_customer(ctx, staff, name, reason):
    deploy_onboarding(ctx)
    add_customers(ctx, customer("OLD1", name="王小明", id_number=ID_NUMBER))
    started = instances.start_instance(ctx, process_key="customer_onboarding", actor=staff["fd"])
    claim_and_complete(ctx, _task(ctx, started.id, "identify").id, staff["fd"], {"applicant": {**APPLICANT, "name": name}})
    [review] = open_tasks(ctx, started.id)
    assert (review.task_name, review.candidate_groups, review.form_key) == (
        "review_duplicate", ("compliance",), "onboarding_duplicate_review")
    assert [c.id for c in _customers(ctx)] == ["OLD1"]
    assert tasks.get_task(ctx, review.id, actor=staff["cmp"]).data["identity"]["duplicate_reason"] == reason
    claim_and_complete(ctx, review.id, staff["cmp"], {"review_decision": "same_customer", "review_notes": "同一客户，已告知柜面"})
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).status == "completed"
    assert [c.id for c in _customers(ctx)] == ["OLD1"]


def test_an_invalid_id_number_sends_the_clerk_back_to_identify(ctx, staff):
    deploy_onboarding(ctx)
    started = instances.start_instance(ctx, process_key="customer_onboarding", actor=staff["fd"])
    bad = {**APPLICANT, "id_number": "110101199003071234"}  # wrong check digit
    claim_and_complete(ctx, _task(ctx, started.id, "identify").id, staff["fd"], {"applicant": bad})
    [again] = open_tasks(ctx, started.id)
    assert again.task_name == "identify"
    assert _customers(ctx) == []


def test_wealthy_customer_goes_to_the_wealth_centre_and_falls_back_when_nobody_is_there(ctx, staff):
    deploy_onboarding(ctx)
    started = instances.start_instance(ctx, process_key="customer_onboarding", actor=staff["fd"])
    claim_and_complete(ctx, _task(ctx, started.id, "identify").id, staff["fd"], {"applicant": APPLICANT})
    claim_and_complete(ctx, _task(ctx, started.id, "know_customer").id, staff["fd"],
                       {"kyc": {**KYC, "initial_assets": 6000000, "marketing_channels": []}})
    claim_and_complete(ctx, _task(ctx, started.id, "risk_questionnaire").id, staff["fd"], {"risk": RISK})
    [row] = _customers(ctx)
    # No wealth-centre manager exists: the next band down (branch wealth managers), least loaded, by name.
    assert (row.tier, row.manager) == ("private", "wm1")
    with ctx.sessions() as session:
        granted = session.scalar(select(func.count()).select_from(Consent).where(Consent.granted.is_(True)))
    assert granted == 0  # nothing ticked: no marketing consent anywhere
