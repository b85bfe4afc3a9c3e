"""One-time sign-in codes: sent by SMS through the outbox, hashed, expiring, limited, single use, no enumeration."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.complaints import portal
from engine.complaints.portal_models import OneTimeCode
from engine.customers import service as customers
from engine.db.models import AuditEvent
from engine.errors import InvalidInputError, RateLimitedError
from engine.outbox.dispatch import dispatch_due
from engine.outbox.models import OutboxMessage
from engine.outbox.store import param_field
from engine.views import SYSTEM
from tests.support.care import RecordingChannel, add_customers, customer

PHONE = "13912345678"
IP = "203.0.113.7"


@pytest.fixture
def sms(ctx):
    channel = RecordingChannel("sms")
    ctx.register_channel(channel)
    add_customers(ctx, customer("C1001", name="王建国", phone=PHONE), customer("C1002", name="李晓梅", phone="13812345678"))
    return channel


def sent_code(ctx, sms) -> str:
    dispatch_due(ctx)
    message = list(sms.delivered.values())[-1]
    return re.search(r"验证码为(\d{6})", message.body).group(1)


def test_a_code_goes_out_by_sms_at_once_and_signs_the_customer_in(ctx, sms, clock):
    clock.set(clock.now().replace(hour=15))  # 23:00 in Shanghai: outside the contact window, urgent goes anyway
    answer = portal.request_code(ctx, "139-1234-5678", ip=IP)
    assert (answer.expires_in, answer.resend_after) == (300, 60)
    code = sent_code(ctx, sms)
    [message] = sms.delivered.values()
    assert message.address == PHONE and message.template_key == "one_time_code"
    assert message.body == f"【CareFlow银行】您的验证码为{code}，5分钟内有效，请勿告诉他人。"
    with ctx.sessions() as session:
        row = session.scalars(select(OneTimeCode)).one()
        assert code not in (row.code_hash, row.salt) and len(row.code_hash) == 64  # only a keyed hash is kept
        assert row.customer_id == "C1001" and PHONE not in row.phone_index
    assert portal.verify_code(ctx, PHONE, code) == "C1001"
    with ctx.sessions() as session:  # the outbox keeps no readable copy once the code is used
        assert session.scalars(select(OutboxMessage)).one().params["code"] == "******"


def test_do_not_disturb_does_not_hold_a_code_back(ctx, sms):
    customers.set_do_not_disturb(ctx, "C1001", True, actor=SYSTEM, reason="asked")
    portal.request_code(ctx, PHONE, ip=IP)
    assert dispatch_due(ctx).sent == 1


def test_a_code_expires_after_five_minutes(ctx, sms, clock):
    portal.request_code(ctx, PHONE, ip=IP)
    code = sent_code(ctx, sms)
    clock.advance(timedelta(minutes=5))
    with pytest.raises(portal.OneTimeCodeError) as refused:
        portal.verify_code(ctx, PHONE, code)
    assert refused.value.details["reason"] == "expired"


def test_a_code_still_works_just_before_it_expires(ctx, sms, clock):
    portal.request_code(ctx, PHONE, ip=IP)
    code = sent_code(ctx, sms)
    clock.advance(timedelta(minutes=4, seconds=59))
    assert portal.verify_code(ctx, PHONE, code) == "C1001"


def test_five_wrong_tries_burn_the_code(ctx, sms):
    portal.request_code(ctx, PHONE, ip=IP)
    code = sent_code(ctx, sms)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    remaining = []
    for _ in range(5):
        with pytest.raises(portal.OneTimeCodeError) as refused:
            portal.verify_code(ctx, PHONE, wrong)
        assert refused.value.details["reason"] == "wrong"
        remaining.append(refused.value.details["remaining"])
    assert remaining == [4, 3, 2, 1, 0]
    with pytest.raises(portal.OneTimeCodeError) as refused:
        portal.verify_code(ctx, PHONE, code)  # even the right code now
    assert refused.value.details["reason"] == "too_many_attempts"


def test_a_used_code_cannot_be_used_again(ctx, sms):
    portal.request_code(ctx, PHONE, ip=IP)
    code = sent_code(ctx, sms)
    assert portal.verify_code(ctx, PHONE, code) == "C1001"
    with pytest.raises(portal.OneTimeCodeError) as refused:
        portal.verify_code(ctx, PHONE, code)
    assert refused.value.details["reason"] == "used"


def test_only_the_latest_code_counts_and_codes_belong_to_their_phone(ctx, sms, clock):
    portal.request_code(ctx, PHONE, ip=IP)
    first = sent_code(ctx, sms)
    portal.request_code(ctx, "13812345678", ip=IP)
    other = sent_code(ctx, sms)
    with pytest.raises(portal.OneTimeCodeError):
        portal.verify_code(ctx, PHONE, other)  # C1002's code does not open C1001's account
    clock.advance(timedelta(seconds=61))
    portal.request_code(ctx, PHONE, ip=IP)
    second = sent_code(ctx, sms)
    if second != first:
        with pytest.raises(portal.OneTimeCodeError):
            portal.verify_code(ctx, PHONE, first)
    assert portal.verify_code(ctx, PHONE, second) == "C1001"
    with ctx.sessions() as session:  # the superseded and the used code leave no readable copy in the outbox
        codes = [m.params["code"] for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    # C1001's first and second are blanked; C1002's (unused) waits for its use, sealed: never readable in the row
    assert codes[0] == codes[2] == "******" and other not in str(codes[1])
    with ctx.sessions() as session:
        key = session.scalars(select(OutboxMessage.idempotency_key).order_by(OutboxMessage.id)).all()[1]
    assert ctx.cipher.decrypt(codes[1]["$sealed"], param_field(key, "code")) == other


def test_rate_limits_per_phone_one_a_minute_five_an_hour(ctx, sms, clock):
    portal.request_code(ctx, PHONE, ip=IP)
    with pytest.raises(RateLimitedError) as limited:
        portal.request_code(ctx, PHONE, ip="198.51.100.1")
    assert limited.value.details["retry_after"] == 61
    clock.advance(timedelta(seconds=30))
    with pytest.raises(RateLimitedError) as limited:
        portal.request_code(ctx, PHONE, ip=IP)
    assert limited.value.details["retry_after"] == 31
    for _ in range(4):
        clock.advance(timedelta(seconds=61))
        portal.request_code(ctx, PHONE, ip=IP)
    clock.advance(timedelta(seconds=61))
    with pytest.raises(RateLimitedError):  # the sixth within the hour
        portal.request_code(ctx, PHONE, ip=IP)
    clock.advance(timedelta(minutes=55))
    portal.request_code(ctx, PHONE, ip=IP)  # the first one has left the hour
    assert dispatch_due(ctx).sent == 6


def test_rate_limit_per_ip_across_phones(ctx, sms):
    for n in range(20):
        portal.request_code(ctx, f"137000000{n:02d}", ip=IP)
    with pytest.raises(RateLimitedError):
        portal.request_code(ctx, "13700000099", ip=IP)
    portal.request_code(ctx, "13700000099", ip="198.51.100.1")


def test_wrong_codes_from_one_ip_are_limited_across_phones(ctx, sms):
    for n in range(30):
        phone = f"137000001{n:02d}"
        with pytest.raises(portal.OneTimeCodeError):
            portal.verify_code(ctx, phone, "000000", ip=IP)
    with pytest.raises(RateLimitedError):
        portal.verify_code(ctx, PHONE, "000000", ip=IP)


def test_an_unknown_phone_gets_the_same_answer_and_limits_but_no_sms(ctx, sms):
    known = portal.request_code(ctx, PHONE, ip=IP)
    unknown = portal.request_code(ctx, "13600000000", ip=IP)
    assert known == unknown
    with pytest.raises(RateLimitedError):
        portal.request_code(ctx, "13600000000", ip=IP)
    assert dispatch_due(ctx).sent == 1
    assert [m.address for m in sms.delivered.values()] == [PHONE]
    with pytest.raises(portal.OneTimeCodeError) as refused:
        portal.verify_code(ctx, "13600000000", "123456")
    assert refused.value.details == {"reason": "wrong", "remaining": 4}  # like a known phone's wrong code
    with pytest.raises(portal.OneTimeCodeError) as never:
        portal.verify_code(ctx, "13500000000", "123456")
    assert never.value.details["reason"] == "no_code"


def test_a_closed_customers_phone_behaves_like_an_unknown_one(ctx, sms):
    with ctx.sessions.begin() as session:
        from engine.customers.models import Customer

        session.get(Customer, "C1002").status = "closed"
    portal.request_code(ctx, "13812345678", ip=IP)
    assert dispatch_due(ctx).sent == 0


def test_malformed_numbers_are_refused_before_anything_is_stored(ctx, sms):
    for bad in ("12345", "02912345678", "1391234567x", ""):
        with pytest.raises(InvalidInputError):
            portal.request_code(ctx, bad, ip=IP)
    with ctx.sessions() as session:
        assert session.scalars(select(OneTimeCode)).all() == []


def test_the_audit_trail_has_masked_phones_and_ips_only(ctx, sms):
    portal.request_code(ctx, PHONE, ip=IP)
    code = sent_code(ctx, sms)
    with pytest.raises(portal.OneTimeCodeError):
        portal.verify_code(ctx, PHONE, "000000" if code != "000000" else "111111", ip=IP)
    portal.verify_code(ctx, PHONE, code, ip=IP)
    with ctx.sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.stream == "customer:C1001")
                                 .order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["portal.code_requested", "portal.code_refused", "portal.code_verified"]
    text = repr([(e.before, e.after) for e in events])
    assert PHONE not in text and IP not in text and code not in text
    assert events[-1].after == {"phone": "139****5678", "ip": "203.0.113.*", "reason": None}
