"""Complaint intake and access (engine/complaints/service.py): numbering, idempotency, merging, who sees what."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from engine.complaints import codes
from engine.complaints import service as complaints
from engine.complaints.models import Complaint
from engine.db.models import ProcessInstance
from engine.errors import (
    ComplaintNotFoundError,
    InvalidInputError,
    InvalidTransitionError,
    PermissionDeniedError,
)
from engine.privacy import Where, complainant_phone
from engine.views import Actor
from tests.processes.test_complaint_handling import complaint, deploy_complaints
from tests.support.care import add_customers, customer

C1 = Actor("customer:C1", frozenset({"customer"}))
C2 = Actor("customer:C2", frozenset({"customer"}))
WECHAT = Actor("channel:wechat", frozenset({"intake"}))


@pytest.fixture
def filed(ctx, people):
    deploy_complaints(ctx)
    add_customers(ctx, customer("C1"), customer("C2", name="李雷"))
    return people


def _count(ctx, model) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_classification_tables_cover_the_required_channels():
    required = {"branch_counter", "self_service", "online_banking", "phone", "mobile_app", "wechat", "sms", "email",
                "letter", "portal", "third_party", "regulator_transfer"}
    assert required <= set(codes.CHANNELS)
    assert codes.CHANNELS["wechat"].label == "网络公众平台（微信） Online public platform (WeChat)"
    assert all(c.zh and c.en for table in codes.AXES.values() for c in table.values())
    with pytest.raises(InvalidInputError) as info:
        codes.check("cause", "bad_weather")
    assert "marketing" in info.value.details["allowed"]


def test_case_numbers_run_per_bank_local_day(ctx, clock, filed):
    first, _ = complaints.submit_complaint(ctx, complaint(), actor=filed["alice"])
    second, _ = complaints.submit_complaint(ctx, complaint(customer_id="C2", cause="marketing"), actor=filed["alice"])
    clock.set(datetime(2025, 3, 3, 16, 30, tzinfo=UTC))  # 00:30 on 4 March in Shanghai
    third, _ = complaints.submit_complaint(ctx, complaint(customer_id=None, summary="匿名来电"), actor=filed["alice"])
    assert [first.case_no, second.case_no, third.case_no] == ["TS20250303-000001", "TS20250303-000002",
                                                               "TS20250304-000001"]
    assert (third.target_due_on, third.legal_due_on) == (date(2025, 3, 19), date(2025, 3, 19))


def test_the_same_source_ref_twice_is_one_case(ctx, filed):
    data = complaint(source="wechat", source_ref="wx-msg-7781")
    first, created = complaints.submit_complaint(ctx, data, actor=WECHAT)
    again, created_again = complaints.submit_complaint(ctx, data, actor=WECHAT)
    assert (created, created_again, again.case_no, again.instance_id) == (True, False, first.case_no, first.instance_id)
    assert (_count(ctx, Complaint), _count(ctx, ProcessInstance)) == (1, 1)
    other, created_other = complaints.submit_complaint(ctx, complaint(source="portal", source_ref="wx-msg-7781",
                                                                      customer_id="C2"), actor=WECHAT)
    assert created_other and other.case_no != first.case_no  # another channel's reference is another case


def test_a_repeat_without_new_facts_is_merged_into_the_open_case(ctx, clock, filed):
    first, _ = complaints.submit_complaint(ctx, complaint(), actor=C1)
    clock.set(datetime(2025, 3, 6, 2, 0, tzinfo=UTC))
    merged, created = complaints.submit_complaint(ctx, complaint(summary="再次投诉服务态度"), actor=C1)
    assert (created, merged.case_no, merged.target_due_on) == (False, first.case_no, date(2025, 3, 18))
    assert [e.kind for e in merged.events][-1] == "merged"
    with ctx.sessions() as session:
        repeat = session.scalars(select(Complaint).where(Complaint.case_no != first.case_no)).one()
    assert (repeat.status, repeat.merged_into, repeat.instance_id) == ("merged", first.case_no, None)
    assert _count(ctx, ProcessInstance) == 1
    different, created = complaints.submit_complaint(ctx, complaint(cause="pricing_terms"), actor=C1)
    assert created and different.case_no != first.case_no  # another cause is another complaint


def test_a_customer_sees_only_their_own_cases(ctx, filed):
    mine, _ = complaints.submit_complaint(ctx, complaint(), actor=C1)
    theirs, _ = complaints.submit_complaint(ctx, complaint(customer_id="C2", complainant_name="李雷"),
                                            actor=filed["alice"])
    with pytest.raises(ComplaintNotFoundError):
        complaints.get_complaint(ctx, theirs.case_no, actor=C1)
    with pytest.raises(ComplaintNotFoundError):  # the same answer as for a case that does not exist
        complaints.get_complaint(ctx, "TS20990101-000001", actor=C1)
    for act in (complaints.withdraw_complaint, complaints.rate_complaint):
        with pytest.raises(ComplaintNotFoundError):
            act(ctx, theirs.case_no, actor=C1, **({"score": 5} if act is complaints.rate_complaint else {}))
    assert [v.case_no for v in complaints.list_complaints(ctx, actor=C1)] == [mine.case_no]
    assert complaints.list_complaints(ctx, actor=C1, customer_id="C2") == []
    staff = complaints.list_complaints(ctx, actor=filed["alice"], status="investigating")
    assert {v.case_no for v in staff} == {mine.case_no, theirs.case_no}


def test_a_customer_files_for_themselves_only(ctx, filed):
    with pytest.raises(PermissionDeniedError):
        complaints.submit_complaint(ctx, complaint(customer_id="C2"), actor=C1)
    view, _ = complaints.submit_complaint(ctx, complaint(customer_id=None), actor=C1)
    assert view.customer_id == "C1"


def test_intake_channels_only_submit_and_designers_do_nothing(ctx, filed):
    view, _ = complaints.submit_complaint(ctx, complaint(source="wechat", source_ref="wx-1"), actor=WECHAT)
    assert all(e.actor is None for e in view.events)  # a channel gets the customer's view back
    with pytest.raises(PermissionDeniedError):
        complaints.get_complaint(ctx, view.case_no, actor=WECHAT)
    with pytest.raises(PermissionDeniedError):
        complaints.list_complaints(ctx, actor=WECHAT)
    with pytest.raises(PermissionDeniedError):
        complaints.submit_complaint(ctx, complaint(), actor=filed["dora"])


def test_personal_data_is_encrypted_and_masked(ctx, filed):
    view, _ = complaints.submit_complaint(ctx, complaint(complainant_name="欧阳小明", complainant_phone="+86 138-0013-8000"),
                                          actor=filed["alice"])
    assert (view.complainant_name, view.complainant_phone) == ("欧**明", "138****8000")
    with ctx.sessions() as session:
        row = session.scalars(select(Complaint)).one()
    assert "13800138000" not in (row.complainant_phone_enc or "")
    assert row.complainant_phone_index == ctx.cipher.index("13800138000")
    assert ctx.cipher.decrypt(row.complainant_phone_enc, complainant_phone(row.case_no)) == "13800138000"
    with ctx.db.connect() as conn:  # the complainant's name too (finding 12), bound to the case
        raw = conn.execute(text("SELECT * FROM complaint")).mappings().one()
    assert "欧阳" not in " ".join(str(v) for v in raw.values())
    assert ctx.cipher.decrypt(raw["complainant_name_enc"], Where("complaint", "complainant_name", row.case_no)) == "欧阳小明"


@pytest.mark.parametrize(("field", "value"), [
    ("channel", "fax"), ("cause", "weather"), ("summary", "  "), ("summary", "长" * 501), ("group_size", 0),
    ("amount", Decimal("-1")), ("amount", Decimal("NaN")), ("complainant_phone", "12"),
])
def test_bad_input_is_refused_before_anything_is_stored(ctx, filed, field, value):
    with pytest.raises(InvalidInputError):
        complaints.submit_complaint(ctx, complaint(**{field: value}), actor=filed["alice"])
    assert _count(ctx, Complaint) == 0


def test_a_received_time_in_the_future_is_refused(ctx, filed):
    with pytest.raises(InvalidInputError, match="future"):
        complaints.submit_complaint(ctx, complaint(received_at=datetime(2025, 3, 4, 1, 0, tzinfo=UTC)),
                                    actor=filed["alice"])


def test_a_regulator_transfer_keeps_the_regulators_earlier_date(ctx, filed):
    view, _ = complaints.submit_complaint(ctx, complaint(channel="regulator_transfer", regulator_due_on=date(2025, 3, 10),
                                                         received_at=datetime(2025, 3, 2, 2, 0, tzinfo=UTC)),
                                          actor=filed["alice"])
    assert (view.received_at, view.target_due_on, view.legal_due_on) == (
        datetime(2025, 3, 2, 2, 0, tzinfo=UTC), date(2025, 3, 10), date(2025, 3, 10))
    assert complaints.get_complaint(ctx, view.case_no, actor=filed["sam"]).severity == "high"


def test_rating_and_review_need_an_answer_first(ctx, filed):
    view, _ = complaints.submit_complaint(ctx, complaint(), actor=C1)
    assert (view.can_rate, view.can_request_review) == (False, False)
    with pytest.raises(InvalidTransitionError):
        complaints.rate_complaint(ctx, view.case_no, score=4, actor=C1)
    with pytest.raises(InvalidTransitionError):
        complaints.request_review(ctx, view.case_no, reason="不服", actor=C1)
    with pytest.raises(InvalidInputError):
        complaints.rate_complaint(ctx, view.case_no, score=6, actor=C1)
    with pytest.raises(InvalidInputError):
        complaints.request_review(ctx, view.case_no, reason=" ", actor=C1)
    with pytest.raises(InvalidInputError):
        complaints.list_complaints(ctx, actor=C1, status="lost")
