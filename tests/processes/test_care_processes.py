"""birthday_care, holiday_care and periodic_revisit, started by the daily scans, end to end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from lxml import etree
from sqlalchemy import select

from engine.care.scans import run_daily_scans
from engine.customers.models import Customer
from engine.outbox.dispatch import dispatch_due
from engine.outbox.models import OutboxMessage
from engine.services import identity, instances
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.support.care import CARE_PROCESSES, ROOT, RecordingChannel, add_customers, customer, deploy_care
from tests.support.engine import claim_and_complete, open_tasks

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}


@pytest.fixture
def sms(ctx):
    channel = RecordingChannel("sms")
    ctx.register_channel(channel)
    return channel


def _instances(ctx, key):
    with ctx.sessions() as session:
        from engine.db.models import ProcessInstance

        return list(session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == key)))


@pytest.mark.parametrize("key", CARE_PROCESSES)
def test_every_element_has_a_diagram_shape(key):
    tree = etree.parse(str(ROOT / "processes" / f"{key}.bpmn"))
    elements = {e.get("id") for e in tree.xpath("//bpmn:process/*[@id] | //bpmn:lane | //bpmn:participant",
                                                namespaces=NS) if not e.tag.endswith("laneSet")}
    drawn = {e.get("bpmnElement") for e in tree.xpath("//bpmndi:BPMNShape | //bpmndi:BPMNEdge", namespaces=NS)}
    assert elements == drawn


def test_birthday_greeting_goes_out_and_its_receipt_completes_the_instance(ctx, clock, sms):
    deploy_care(ctx)
    add_customers(ctx, customer("C1", date(1980, 3, 3), gender="F"), customer("C2", date(1980, 3, 4)))
    result = run_daily_scans(ctx, date(2025, 3, 3))
    assert (result["birthday"].started, result["holiday"].started) == (1, 0)
    [started] = _instances(ctx, "birthday_care")
    assert (started.business_key, started.customer_id, started.status) == ("birthday:C1:2025-03-03", "C1", "running")
    report = dispatch_due(ctx)
    assert report.sent == 1
    [message] = sms.delivered.values()
    assert message.address == "13800138000" and "王女士" in message.body and "生日快乐" in message.body
    assert instances.get_instance(ctx, str(started.id), actor=SYSTEM).status == "completed"
    with ctx.sessions() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert (row.status, row.result_delivered, row.channel) == ("sent", True, "sms")


def test_rerunning_a_scan_starts_nothing_twice(ctx, sms):
    deploy_care(ctx)
    add_customers(ctx, customer("C1", date(1980, 3, 3)))
    run_daily_scans(ctx, date(2025, 3, 3))
    again = run_daily_scans(ctx, date(2025, 3, 3))
    assert not again["birthday"].ran
    forced = run_daily_scans(ctx, date(2025, 3, 3), force=True)
    assert (forced["birthday"].started, forced["birthday"].skipped) == (0, 1)
    assert len(_instances(ctx, "birthday_care")) == 1


def test_private_client_also_gets_the_managers_call(ctx, people, sms):
    deploy_care(ctx)
    add_customers(ctx, customer("C9", date(1970, 3, 3), tier="private", manager="alice"))
    run_daily_scans(ctx, date(2025, 3, 3))
    dispatch_due(ctx)
    [row] = _instances(ctx, "birthday_care")
    [call] = open_tasks(ctx, str(row.id))
    assert (call.form_key, call.candidate_groups) == ("care_call_record", ("customer_managers",))


def test_a_refused_greeting_is_recorded_on_the_instance(ctx, sms):
    from engine.customers.service import set_consent

    deploy_care(ctx)
    add_customers(ctx, customer("C1", date(1980, 3, 3)))
    run_daily_scans(ctx, date(2025, 3, 3))
    set_consent(ctx, "C1", channel="all", purpose="service", granted=False, source="sms reply T", actor=SYSTEM)
    report = dispatch_due(ctx)
    assert (report.sent, report.suppressed, sms.attempts) == (0, 1, 0)
    [row] = _instances(ctx, "birthday_care")
    assert row.status == "completed"
    view = instances.get_instance(ctx, str(row.id), actor=SYSTEM)
    assert any(h.action == "message.received" for h in view.history)


def test_no_receipt_in_two_days_ends_the_instance(ctx, clock):
    deploy_care(ctx, "birthday_care")
    add_customers(ctx, customer("C1", date(1980, 3, 3)))
    run_daily_scans(ctx, date(2025, 3, 3))  # no sms channel registered: the message keeps retrying
    clock.advance(timedelta(days=2, seconds=1))
    fire_due_timers(ctx)
    [row] = _instances(ctx, "birthday_care")
    assert row.status == "completed"


def test_double_ninth_greets_only_customers_aged_sixty_or_more(ctx, sms):
    deploy_care(ctx)
    add_customers(ctx, customer("OLD", date(1965, 10, 29)), customer("YOUNG", date(1966, 10, 30)),
                  customer("NOBIRTH", None))
    result = run_daily_scans(ctx, date(2025, 10, 29))  # 重阳 2025
    assert result["holiday"].started == 1
    [row] = _instances(ctx, "holiday_care")
    assert (row.customer_id, row.business_key) == ("OLD", "holiday:double_ninth:2025:OLD")


def test_revisit_due_starts_one_instance_and_moves_the_due_date_by_tier(ctx, clock, people):
    deploy_care(ctx)
    add_customers(ctx, customer("G1", tier="gold", next_revisit_on=date(2025, 3, 1)),
                  customer("P1", tier="private", next_revisit_on=date(2025, 3, 3)),
                  customer("M1", tier="mass", next_revisit_on=date(2025, 4, 1)))
    result = run_daily_scans(ctx, date(2025, 3, 3))
    assert result["revisit"].started == 2
    with ctx.sessions() as session:
        due = {c.id: c.next_revisit_on for c in session.scalars(select(Customer))}
    assert due == {"G1": date(2025, 6, 1), "P1": date(2025, 4, 3), "M1": date(2025, 4, 1)}
    rows = {r.customer_id: r for r in _instances(ctx, "periodic_revisit")}
    assert rows["G1"].business_key == "revisit:G1:2025-03-01"
    [task] = open_tasks(ctx, str(rows["G1"].id))
    identity.create_user(ctx, username="mgr", roles=["staff"], groups=["customer_managers"], password="correct horse 1")
    manager = identity.get_actor(ctx, "mgr")
    claim_and_complete(ctx, task.id, manager, {"contact_method": "phone", "revisit_outcome": "no_need",
                                               "revisit_notes": "客户近况良好，暂无新需求"})
    assert instances.get_instance(ctx, str(rows["G1"].id), actor=SYSTEM).status == "completed"


def test_a_missed_revisit_escalates_to_the_supervisors_after_seven_days(ctx, clock):
    deploy_care(ctx, "periodic_revisit")
    add_customers(ctx, customer("G1", tier="gold", next_revisit_on=date(2025, 3, 3)))
    run_daily_scans(ctx, date(2025, 3, 3))
    [row] = _instances(ctx, "periodic_revisit")
    clock.advance(timedelta(days=7, seconds=1))
    fire_due_timers(ctx)
    names = sorted(t.task_name for t in open_tasks(ctx, str(row.id)))
    assert names == ["follow_up", "revisit_customer"]


def test_scan_uses_the_bank_local_day(ctx, clock):
    deploy_care(ctx, "birthday_care")
    add_customers(ctx, customer("C1", date(1990, 3, 4)))
    clock.set(datetime(2025, 3, 3, 16, 30, tzinfo=UTC))  # 00:30 on 4 March in Shanghai
    assert run_daily_scans(ctx)["birthday"].started == 1


def _manager(ctx):
    identity.create_user(ctx, username="mgr", roles=["staff"], groups=["customer_managers"], password="correct horse 1")
    return identity.get_actor(ctx, "mgr")


def test_the_outcome_sets_the_next_revisit_by_the_tiers_frequency(ctx, clock):
    deploy_care(ctx, "periodic_revisit")
    add_customers(ctx, *(customer(f"{tier[:2].upper()}1", tier=tier, next_revisit_on=date(2025, 3, 3))
                         for tier in ("private", "diamond", "platinum", "gold", "mass")))
    run_daily_scans(ctx, date(2025, 3, 3))
    manager = _manager(ctx)
    clock.set(datetime(2025, 3, 5, 2, 0, tzinfo=UTC))  # the outcome is recorded two days later
    for row in _instances(ctx, "periodic_revisit"):
        [task] = open_tasks(ctx, str(row.id))
        claim_and_complete(ctx, task.id, manager, {"contact_method": "phone", "revisit_outcome": "no_need",
                                                   "revisit_notes": "客户近况良好，暂无新需求"})
        assert instances.get_instance(ctx, str(row.id), actor=SYSTEM).status == "completed"
    with ctx.sessions() as session:
        due = {c.tier: c.next_revisit_on for c in session.scalars(select(Customer))}
    assert due == {"private": date(2025, 4, 5), "diamond": date(2025, 5, 5), "platinum": date(2025, 6, 5),
                   "gold": date(2025, 6, 5), "mass": date(2025, 9, 5)}


def test_the_customers_own_manager_sees_the_revisit(ctx, people):
    deploy_care(ctx, "periodic_revisit")
    add_customers(ctx, customer("G1", tier="gold", manager="carol", next_revisit_on=date(2025, 3, 3)))
    run_daily_scans(ctx, date(2025, 3, 3))
    [row] = _instances(ctx, "periodic_revisit")
    [task] = open_tasks(ctx, str(row.id))
    assert (task.candidate_groups, task.candidate_users) == (("customer_managers",), ("carol",))


def test_a_risk_assessment_expiring_within_30_days_starts_a_reassessment(ctx):
    from engine.customers.accounts_models import RiskAssessment
    from engine.onboarding.service import scan_risk_reassessments

    deploy_care(ctx, "periodic_revisit")
    add_customers(ctx, customer("SOON"), customer("LATER"), customer("GONE"))
    with ctx.sessions.begin() as session:
        for cid, until in (("SOON", date(2025, 4, 2)), ("LATER", date(2025, 4, 3)), ("GONE", date(2025, 3, 2))):
            session.get(Customer, cid).risk_valid_until = until
            session.get(Customer, cid).risk_level = 2
    result = scan_risk_reassessments(ctx, date(2025, 3, 3))
    assert (result.started, result.skipped) == (1, 0)
    assert scan_risk_reassessments(ctx, date(2025, 3, 3)).skipped == 1  # a rerun starts nothing twice
    [row] = _instances(ctx, "periodic_revisit")
    assert (row.customer_id, row.business_key) == ("SOON", "reassess:SOON:2025-04-02")
    [task] = open_tasks(ctx, str(row.id))
    assert (task.task_name, task.form_key) == ("reassess_risk", "onboarding_risk")
    answers = {"risk_age": "31_45", "risk_income": "over_1m", "risk_share": "below_10", "risk_experience": "stocks",
               "risk_horizon": "over_5y", "risk_goal": "growth", "risk_loss": "30_50"}  # 5+5+5+4+5+4+4 = 32 → C5
    claim_and_complete(ctx, task.id, _manager(ctx), {"risk": answers})
    assert instances.get_instance(ctx, str(row.id), actor=SYSTEM).status == "completed"
    with ctx.sessions() as session:
        soon = session.get(Customer, "SOON")
        assert (soon.risk_level, soon.risk_valid_until) == (5, date(2026, 3, 3))
        [assessment] = session.scalars(select(RiskAssessment))
        assert (assessment.customer_id, assessment.score, assessment.assessed_by) == ("SOON", 32, "mgr")


# --- each care process end to end, straight and with save/restore between steps -------------------------------------

def _stepper(ctx, settings, db, clock, fresh):
    """The context for the next step: with ``fresh``, a new one (no cached specs, nothing in memory)."""
    from engine.context import build_engine

    def step():
        if not fresh:
            return ctx
        new = build_engine(settings, clock=clock, db=db)
        new.channels.update(ctx.channels)  # the same recording gateway
        return new

    return step


@pytest.mark.parametrize("fresh", [False, True], ids=["straight", "save-restore"])
def test_birthday_scenario(ctx, settings, db, clock, sms, fresh):
    step = _stepper(ctx, settings, db, clock, fresh)
    deploy_care(step(), "birthday_care")
    add_customers(ctx, customer("C1", date(1975, 3, 3), gender="M"))
    assert run_daily_scans(step(), date(2025, 3, 3))["birthday"].started == 1
    [row] = _instances(ctx, "birthday_care")
    assert instances.get_instance(step(), str(row.id), actor=SYSTEM).status == "running"  # waits for the receipt
    assert dispatch_due(step()).sent == 1
    [message] = sms.delivered.values()
    assert "王先生" in message.body and "生日快乐" in message.body
    assert instances.get_instance(step(), str(row.id), actor=SYSTEM).status == "completed"


@pytest.mark.parametrize("fresh", [False, True], ids=["straight", "save-restore"])
def test_holiday_scenario(ctx, settings, db, clock, sms, fresh):
    step = _stepper(ctx, settings, db, clock, fresh)
    deploy_care(step(), "holiday_care")
    add_customers(ctx, customer("C1"), customer("C2"))
    clock.set(datetime(2025, 5, 31, 1, 0, tzinfo=UTC))  # 端午 2025-05-31, 09:00 in Shanghai
    assert run_daily_scans(step(), date(2025, 5, 31))["holiday"].started == 2
    assert dispatch_due(step()).sent == 2
    assert all("端午" in m.body for m in sms.delivered.values())
    assert {instances.get_instance(step(), str(r.id), actor=SYSTEM).status
            for r in _instances(ctx, "holiday_care")} == {"completed"}


@pytest.mark.parametrize("fresh", [False, True], ids=["straight", "save-restore"])
def test_periodic_revisit_scenario(ctx, settings, db, clock, fresh):
    step = _stepper(ctx, settings, db, clock, fresh)
    deploy_care(step(), "periodic_revisit")
    add_customers(ctx, customer("P1", tier="platinum", next_revisit_on=date(2025, 3, 3)))
    assert run_daily_scans(step(), date(2025, 3, 3))["revisit"].started == 1
    [row] = _instances(ctx, "periodic_revisit")
    [task] = open_tasks(step(), str(row.id))
    manager = _manager(ctx)
    clock.set(datetime(2025, 3, 4, 2, 0, tzinfo=UTC))
    claim_and_complete(step(), task.id, manager, {"contact_method": "meeting", "revisit_outcome": "no_need",
                                                  "revisit_notes": "当面回访，客户满意"})
    assert instances.get_instance(step(), str(row.id), actor=SYSTEM).status == "completed"
    with ctx.sessions() as session:
        assert session.get(Customer, "P1").next_revisit_on == date(2025, 6, 4)  # platinum: quarterly from the visit
