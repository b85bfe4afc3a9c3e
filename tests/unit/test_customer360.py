"""The customer 360 view: content, masking per role, audited reveal, timeline pages, list and search."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.complaints.models import Complaint
from engine.customers import service as customers
from engine.customers.accounts_models import CustomerAccount, CustomerHolding, RiskAssessment, TierChange
from engine.customers.customer360 import customer_360, list_customers, reveal_contact, seed_products
from engine.customers.models import Customer
from engine.customers.service import CustomerInput
from engine.db.models import AuditEvent
from engine.errors import CustomerNotFoundError, InvalidInputError, PermissionDeniedError
from engine.outbox.models import OutboxMessage
from engine.privacy import customer_field
from engine.services import instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.care import add_customers, customer
from tests.support.engine import deploy

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


@pytest.fixture
def k1(ctx, people, clock):
    """欧阳明华: alice's diamond customer with accounts, a fund, a tier change, an expired questionnaire and history."""
    seed_products(ctx)
    customers.create_customer(ctx, CustomerInput(
        id="K1", name="欧阳明华", gender="M", birth_date=date(1955, 3, 10), tier="diamond", branch="朝阳支行",
        manager="alice", phone="13912345678", email="ouyang@example.cn", id_number="110105195503101234"), actor=SYSTEM)
    with ctx.sessions.begin() as s:
        row = s.get(Customer, "K1")
        row.aum, row.risk_level, row.risk_valid_until = Decimal("1250000.00"), 3, date(2025, 3, 2)
        s.add_all([
            CustomerAccount(customer_id="K1", external_id="X-1", kind="savings", number_last4="1234",
                            balance=Decimal("1300000.00"), avg_daily_balance=Decimal("1250000.00"), updated_at=T0),
            CustomerAccount(customer_id="K1", external_id="X-2", kind="loan", number_last4="9999",
                            balance=Decimal("400000.00"), avg_daily_balance=Decimal("400000.00"), updated_at=T0),
            CustomerHolding(customer_id="K1", product_code="FUND-EQ-GROWTH", amount=Decimal("200000.00"),
                            bought_on=date(2024, 5, 6), status="held", source="import"),
            TierChange(customer_id="K1", tier="diamond", previous_tier="platinum", aum=Decimal("1250000.00"),
                       reason="upgrade", actor="system", changed_at=T0 - timedelta(days=40)),
            RiskAssessment(customer_id="K1", level=3, questionnaire_version="v2", assessed_at=T0 - timedelta(days=366),
                           valid_until=date(2025, 3, 2), assessed_by="alice"),
        ])
    clock.advance(timedelta(hours=1))
    customers.set_consent(ctx, "K1", channel="all", purpose="marketing", granted=True, source="branch", actor=SYSTEM)
    clock.advance(timedelta(hours=1))
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    started = instances.start_instance(ctx, process_key="simple", actor=SYSTEM, customer_id="K1", business_key="K1-1")
    clock.advance(timedelta(hours=1))
    with ctx.sessions.begin() as s:
        s.add(OutboxMessage(idempotency_key="k1-birthday", customer_id="K1", channel="sms", purpose="care",
                            template="birthday_greeting", params={}, status="sent", next_attempt_at=clock.now(),
                            created_at=clock.now()))
    clock.advance(timedelta(minutes=30))
    with ctx.sessions.begin() as s:
        s.add(Complaint(case_no="TS20250303-000001", customer_id="K1", channel="A01", business_type="B05", cause="C04",
                        summary="理财产品收益与宣传不符", status="investigating", received_at=clock.now(),
                        clock_started_on=date(2025, 3, 3), target_due_on=date(2025, 3, 18),
                        legal_due_on=date(2025, 3, 18), warn_on=date(2025, 3, 13), source="branch",
                        created_at=clock.now(), updated_at=clock.now()))
    return started.id


def test_the_360_view_of_a_hand_built_customer(ctx, people, k1):
    view = customer_360(ctx, "K1", people["alice"])
    assert (view.name, view.phone, view.email, view.id_number) == (
        "欧阳明华", "139****5678", "o***@example.cn", "**************1234")
    assert (view.age, view.birthday, view.tier, view.manager, view.branch) == (69, "03-10", "diamond", "alice", "朝阳支行")
    assert (view.aum, view.risk_level, view.risk_valid_until, view.risk_expired) == (
        Decimal("1250000.00"), "C3", date(2025, 3, 2), True)
    assert [(a.kind, a.last4, a.balance) for a in view.accounts] == [
        ("loan", "9999", Decimal("400000.00")), ("savings", "1234", Decimal("1300000.00"))]
    assert [(h.product_code, h.product_name, h.risk_level, h.amount) for h in view.holdings] == [
        ("FUND-EQ-GROWTH", "成长精选股票型基金", 5, Decimal("200000.00"))]  # R4 by the bank, R5 by the issuer: 孰高
    assert [(t.previous_tier, t.tier, t.reason) for t in view.tier_history] == [("platinum", "diamond", "upgrade")]
    assert [(c.channel, c.purpose, c.granted, c.source) for c in view.consents] == [("all", "marketing", True, "branch")]
    assert [(i.kind, i.title_en, i.status) for i in view.timeline.items] == [
        ("complaint", "Complaint TS20250303-000001 (B05/C04)", "investigating"),
        ("message", "Message birthday_greeting (sms)", "sent"),
        ("task", "Task Review request", "open"),
        ("instance", "Process simple", "running"),
        ("audit", "Consent changed · system", None),
        ("audit", "Customer created · system", None),
    ]
    assert view.timeline.items[3].subject_id == k1 and view.timeline.next_cursor is None
    assert view.timeline.items[1].at == T0 + timedelta(hours=3)
    assert "理财" not in str(view.timeline)  # the complaint's own words stay in the complaint


def test_timeline_pages_neither_repeat_nor_skip_items_at_the_same_instant(ctx, people, k1):
    seen, cursor = [], None
    for _ in range(3):
        page = customer_360(ctx, "K1", people["alice"], timeline_cursor=cursor, timeline_limit=3).timeline
        seen.append([i.kind for i in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    # the task and its instance started at the same instant fall on both sides of the first page break
    assert seen == [["complaint", "message", "task"], ["instance", "audit", "audit"]]
    with pytest.raises(InvalidInputError):
        customer_360(ctx, "K1", people["alice"], timeline_cursor="bm90LWEtY3Vyc29y")


def test_masking_depends_on_who_is_looking(ctx, people, k1):
    other_staff = customer_360(ctx, "K1", people["bob"])
    assert (other_staff.name, other_staff.phone, other_staff.can_reveal) == ("欧**华", "139****5678", False)
    supervisor = customer_360(ctx, "K1", people["sam"])
    assert (supervisor.name, supervisor.can_reveal, supervisor.id_number) == ("欧阳明华", True, "**************1234")
    with pytest.raises(PermissionDeniedError):
        customer_360(ctx, "K1", people["dora"])  # designers build processes; they do not read customers
    with pytest.raises(CustomerNotFoundError):
        customer_360(ctx, "NOPE", people["alice"])


def test_reveal_is_for_the_manager_and_supervisors_and_is_audited(ctx, people, k1, clock):
    clock.advance(timedelta(minutes=5))
    assert reveal_contact(ctx, "K1", "phone", people["alice"], reason="生日回访") == "13912345678"
    assert reveal_contact(ctx, "K1", "email", people["sam"], reason="核实身份") == "ouyang@example.cn"
    with pytest.raises(InvalidInputError):
        reveal_contact(ctx, "K1", "email", people["sam"])  # no reason, no reveal: the purpose is recorded
    with pytest.raises(PermissionDeniedError):
        reveal_contact(ctx, "K1", "phone", people["bob"], reason="想看看")
    with pytest.raises(InvalidInputError):
        reveal_contact(ctx, "K1", "id_number", people["sam"])  # the full ID number is never shown
    with ctx.sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "customer.contact_revealed")
                           .order_by(AuditEvent.id)).all()
    assert [(e.stream, e.actor, e.after) for e in events] == [
        ("customer:K1", "alice", {"field": "phone", "reason": "生日回访"}),
        ("customer:K1", "sam", {"field": "email", "reason": "核实身份"}),
    ]
    newest = customer_360(ctx, "K1", people["alice"]).timeline.items[0]
    assert (newest.kind, newest.title_zh) == ("audit", "查看联系方式 (email)")


def test_list_search_filters_and_keyset_pages(ctx, people):
    add_customers(ctx,
                  customer("A1", name="欧阳明华", tier="diamond", manager="alice", branch="朝阳支行", phone="13912345678",
                           id_number="110105195503101234"),
                  customer("A2", name="欧阳娜", tier="gold", manager="bob", branch="浦东支行", phone="13800000002"),
                  customer("A3", name="王芳", tier="gold", manager="alice", branch="朝阳支行", phone="13800000003"),
                  customer("B1", name="李_强", tier="mass", manager="bob", phone="13800000004"),
                  customer("B2", name="张伟", tier="gold", manager="alice", phone="13800000005"))
    sam = people["sam"]  # a supervisor reads every customer; alice only those she manages

    def ids(actor=sam, **kw):
        return [c.id for c in list_customers(ctx, actor=actor, **kw).items]

    assert ids(q="139 1234 5678") == ["A1"] and ids(q="+8613912345678") == ["A1"]  # exact phone via the index
    assert ids(q="1391234567") == []  # a partial phone finds nothing: the index is exact
    assert ids(q="110105195503101234") == ["A1"]
    assert ids(q="欧阳") == ["A1", "A2"] and ids(q="B2") == ["B2"]
    assert ids(q="李_") == ["B1"] and ids(q="李%") == []  # LIKE wildcards are literal
    assert ids(tier="gold") == ["A2", "A3", "B2"] and ids(tier="gold", manager="alice") == ["A3", "B2"]
    assert ids(branch="朝阳支行") == ["A1", "A3"]
    assert ids(people["alice"]) == ["A1", "A3", "B2"] and ids(people["alice"], q="欧阳") == ["A1"]
    first = list_customers(ctx, actor=sam, limit=2)
    second = list_customers(ctx, actor=sam, limit=2, cursor=first.next_cursor)
    third = list_customers(ctx, actor=sam, limit=2, cursor=second.next_cursor)
    assert [[c.id for c in p.items] for p in (first, second, third)] == [["A1", "A2"], ["A3", "B1"], ["B2"]]
    assert third.next_cursor is None
    assert [(c.name, c.phone) for c in first.items] == [("欧**华", "139****5678"), ("欧*娜", "138****0002")]
    with pytest.raises(PermissionDeniedError):
        list_customers(ctx, actor=people["dora"])


def test_the_kyc_address_is_encrypted_masked_and_revealed_only_with_an_audit(ctx, people, k1):
    with ctx.sessions.begin() as s:
        row = s.get(Customer, "K1")
        row.occupation, row.income_band, row.source_of_funds = "retired", "100k_500k", "pension"
        row.address_enc = ctx.cipher.encrypt("北京市朝阳区建国路88号", customer_field("address", "K1"))
    view = customer_360(ctx, "K1", people["bob"])
    assert (view.occupation, view.income_band, view.source_of_funds, view.address) == (
        "retired", "100k_500k", "pension", "北京市朝阳区***")
    with pytest.raises(PermissionDeniedError):
        reveal_contact(ctx, "K1", "address", people["bob"])
    assert reveal_contact(ctx, "K1", "address", people["alice"], reason="寄送材料") == "北京市朝阳区建国路88号"
    with ctx.sessions() as s:
        assert "建国路" not in s.get(Customer, "K1").address_enc
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "customer.contact_revealed")).all()
        assert event.after == {"field": "address", "reason": "寄送材料"}


def test_the_task_pages_customer_summary_is_masked_by_role_too(ctx, people, k1):
    names = {who: customers.customer_summary(ctx, "K1", actor=people[who]).name for who in ("alice", "bob", "sam")}
    assert names == {"alice": "欧阳明华", "bob": "欧**华", "sam": "欧阳明华"}  # alice manages K1; sam supervises
    assert {customers.customer_summary(ctx, "K1", actor=people[w]).phone for w in names} == {"139****5678"}
