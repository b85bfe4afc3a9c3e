"""The outbox end to end: real SMTP and HTTP gateways that fail for a while, retries, dead letters, crashes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.care.scans import run_daily_scans
from engine.customers.service import set_do_not_disturb
from engine.db.models import ProcessInstance
from engine.errors import PermissionDeniedError
from engine.outbox import dispatch
from engine.outbox.dispatch import dispatch_due
from engine.outbox.models import OutboxMessage
from engine.privacy import customer_field
from engine.services import outbox
from engine.views import SYSTEM
from integrations.channels import SmsGatewayChannel, SmtpChannel
from tests.support.care import RecordingChannel, add_customers, customer, deploy_care
from tests.support.gateway import FakeGateway


def _outbox(ctx) -> OutboxMessage:
    with ctx.sessions() as session:
        return session.scalars(select(OutboxMessage)).one()


def _instance_status(ctx) -> str:
    with ctx.sessions() as session:
        return session.scalars(select(ProcessInstance.status)).one()


def _birthday_today(ctx, **kw):
    deploy_care(ctx, "birthday_care")
    add_customers(ctx, customer("C1", date(1980, 3, 3), **kw))
    run_daily_scans(ctx, date(2025, 3, 3))


def test_smtp_refusing_for_a_while_gets_the_mail_through_once(ctx, clock, sink):
    handler, port = sink
    handler.defer = 2  # "451 try again" twice
    ctx.register_channel(SmtpChannel("127.0.0.1", port, "care@bank.example"))
    _birthday_today(ctx, email="li.wei@example.cn", preferred_channel="email", language="en", gender="M")
    first = dispatch_due(ctx)
    assert (first.sent, first.retried) == (0, 1)
    assert _outbox(ctx).next_attempt_at == clock.now() + timedelta(seconds=30)
    clock.advance(timedelta(seconds=29))
    assert dispatch_due(ctx).retried == 0  # not due yet
    clock.advance(timedelta(seconds=1))
    assert dispatch_due(ctx).retried == 1
    assert _outbox(ctx).next_attempt_at == clock.now() + timedelta(seconds=60)  # backoff doubles
    clock.advance(timedelta(seconds=60))
    assert dispatch_due(ctx).sent == 1
    [mail] = handler.messages
    assert mail["Subject"] == "Happy birthday" and "Dear 王小明," in mail.get_content()
    row = _outbox(ctx)
    assert (row.status, row.attempts, mail["Message-ID"]) == ("sent", 3, row.provider_id)
    assert _instance_status(ctx) == "completed"


def test_sms_gateway_errors_are_retried_and_the_gateway_records_one_message(ctx, clock):
    with FakeGateway() as gateway:
        channel = SmsGatewayChannel(gateway.sms_url, "sms-secret")
        ctx.register_channel(channel)
        _birthday_today(ctx, phone="13912345678")
        gateway.fail_next(1, status=503)
        try:
            assert dispatch_due(ctx).retried == 1
            clock.advance(timedelta(seconds=30))
            assert dispatch_due(ctx).sent == 1
        finally:
            channel.close()
        assert [m["to"] for m in gateway.sms_messages] == ["13912345678"]
    assert _instance_status(ctx) == "completed"


def test_a_rejected_address_is_dead_lettered_at_once_and_the_instance_told(ctx, sink):
    handler, port = sink
    handler.reject.add("gone@example.cn")
    ctx.register_channel(SmtpChannel("127.0.0.1", port, "care@bank.example"))
    _birthday_today(ctx, email="gone@example.cn", preferred_channel="email")
    assert dispatch_due(ctx).dead == 1
    row = _outbox(ctx)
    assert (row.status, row.status_reason, row.result_delivered) == ("dead", "rejected", True)
    assert "550" in (row.last_error or "")


def _exhaust_retries(ctx, clock, *, failures: int) -> RecordingChannel:
    """A birthday greeting whose SMS gateway fails ``failures`` times, dispatched until its attempts run out."""
    sms = RecordingChannel("sms")
    sms.failures_left = failures
    ctx.register_channel(sms)
    _birthday_today(ctx)
    for _ in range(ctx.settings.outbox.max_attempts):
        dispatch_due(ctx)
        clock.advance(timedelta(hours=1))
    return sms


def test_retries_run_out_into_the_dead_letter_state(ctx, clock):
    sms = _exhaust_retries(ctx, clock, failures=100)
    row = _outbox(ctx)
    assert (row.status, row.status_reason, row.attempts, sms.attempts) == ("dead", "retries_exhausted", 6, 6)


def test_a_crash_between_send_and_record_resends_with_the_same_key(ctx, clock, monkeypatch):
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    _birthday_today(ctx)

    class Killed(BaseException):
        pass

    def die(*_args, **_kwargs):
        raise Killed  # the process dies after the gateway accepted the message

    monkeypatch.setattr(dispatch, "_finish", die)
    with pytest.raises(Killed):
        dispatch_due(ctx)
    monkeypatch.undo()
    assert _outbox(ctx).status == "sending"
    assert dispatch_due(ctx).sent == 0  # leased: nobody else touches it yet
    clock.advance(timedelta(seconds=ctx.settings.outbox.lease_seconds))
    assert dispatch_due(ctx).sent == 1
    assert sms.attempts == 2 and len(sms.delivered) == 1  # sent twice with one key; the gateway kept one
    assert _instance_status(ctx) == "completed"


def test_a_send_slower_than_its_lease_is_recorded_once_by_the_dispatcher_that_took_it_over(ctx, clock):
    """Dispatcher A's gateway call outlives the lease; B claims the row again and sends it (same key). Only the
    lease holder records the outcome: one 'sent', one attempt, the instance told once, A's late answer dropped."""
    later = clock.now() + timedelta(seconds=ctx.settings.outbox.lease_seconds + 1)
    reports = []

    class SlowThenTakenOver(RecordingChannel):
        def send(self, message):
            if self.attempts == 0:  # while A waits for the gateway, B runs after A's lease ran out
                self.attempts += 1
                reports.append(dispatch_due(ctx, now=later))
                self.attempts -= 1
            return super().send(message)

    sms = SlowThenTakenOver("sms")
    ctx.register_channel(sms)
    _birthday_today(ctx)
    first = dispatch_due(ctx)
    [taken_over] = reports
    assert (taken_over.sent, first.sent) == (1, 0)
    row = _outbox(ctx)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, later)
    assert len(sms.delivered) == 1
    assert _instance_status(ctx) == "completed"


def test_messages_wait_for_the_contact_window(ctx, clock):
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    clock.set(datetime(2025, 3, 3, 13, 30, tzinfo=UTC))  # 21:30 in Shanghai
    _birthday_today(ctx)
    assert dispatch_due(ctx).deferred == 1
    assert _outbox(ctx).next_attempt_at == datetime(2025, 3, 4, 1, 0, tzinfo=UTC)  # 09:00 next morning
    clock.set(datetime(2025, 3, 4, 0, 59, tzinfo=UTC))
    assert dispatch_due(ctx).sent == 0
    clock.set(datetime(2025, 3, 4, 1, 0, tzinfo=UTC))
    assert dispatch_due(ctx).sent == 1


def test_do_not_disturb_set_after_queueing_stops_the_message(ctx):
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    _birthday_today(ctx)
    set_do_not_disturb(ctx, "C1", True, actor=SYSTEM, reason="customer asked by phone")
    assert dispatch_due(ctx).suppressed == 1
    assert sms.attempts == 0 and _outbox(ctx).status_reason == "do_not_disturb"


def test_contact_data_is_encrypted_at_rest(ctx):
    _birthday_today(ctx, phone="13912345678", email="li.wei@example.cn")
    with ctx.db.connect() as conn:
        raw = conn.exec_driver_sql("SELECT phone_enc, email_enc, phone_index, id FROM customer").one()
    assert "13912345678" not in str(raw) and "li.wei" not in str(raw)
    assert ctx.cipher.decrypt(raw[0], customer_field("phone", raw[3])) == "13912345678"
    assert raw[2] == ctx.cipher.index("+86 139-1234-5678")


def test_supervisors_see_dead_letters_and_can_retry_them(ctx, clock, people):
    sms = _exhaust_retries(ctx, clock, failures=6)
    with pytest.raises(PermissionDeniedError):
        outbox.list_messages(ctx, actor=people["alice"])
    [dead] = outbox.list_messages(ctx, actor=people["sam"], status="dead")
    assert (dead.customer_id, dead.reason, dead.attempts, dead.last_error) == ("C1", "retries_exhausted", 6, "gateway busy")
    assert outbox.retry_message(ctx, dead.id, actor=people["sam"]).status == "pending"
    assert dispatch_due(ctx).sent == 1 and len(sms.delivered) == 1
