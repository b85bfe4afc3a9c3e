"""The send-time rules, one by one (docs/domain.md §3.5, §5.6): refusals suppress, timing rules defer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.config import Settings
from engine.outbox.policy import Recent, Recipient, Sendable, decide

SETTINGS = Settings()
NONE_SENT = Recent(0, 0, 0)
NOON = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, a Monday


def who(**kw):
    base = dict(status="active", do_not_disturb=False, preferred_channel="sms",
                reachable=frozenset({"sms", "inapp", "email"}), consents={})
    return Recipient(**{**base, **kw})


def msg(**kw):
    base = dict(purpose="service", channel="auto", urgent=False, festive=False, allowed_channels=("sms", "email", "inapp"))
    return Sendable(**{**base, **kw})


def shanghai(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh - 8, mm, tzinfo=UTC) if hh >= 8 else datetime(y, m, d - 1, hh + 16, mm, tzinfo=UTC)


def test_a_care_message_goes_by_the_preferred_channel():
    decision = decide(msg(), who(preferred_channel="email"), NONE_SENT, NOON, SETTINGS)
    assert (decision.action, decision.channel) == ("send", "email")


def test_preferred_channel_without_an_address_falls_back():
    decision = decide(msg(), who(preferred_channel="wechat"), NONE_SENT, NOON, SETTINGS)
    assert (decision.action, decision.channel) == ("send", "sms")


@pytest.mark.parametrize(("recipient", "reason"), [
    (None, "unknown_customer"),
    (who(status="deceased"), "customer_deceased"),
    (who(do_not_disturb=True), "do_not_disturb"),
    (who(consents={("all", "service"): False}), "opted_out"),
])
def test_refusals_suppress(recipient, reason):
    decision = decide(msg(), recipient, NONE_SENT, NOON, SETTINGS)
    assert (decision.action, decision.reason) == ("suppress", reason)


def test_refusing_one_channel_moves_the_message_to_another():
    decision = decide(msg(), who(consents={("sms", "service"): False}), NONE_SENT, NOON, SETTINGS)
    assert (decision.action, decision.channel) == ("send", "email")


def test_marketing_needs_an_explicit_opt_in():
    assert decide(msg(purpose="marketing"), who(), NONE_SENT, NOON, SETTINGS).reason == "no_marketing_consent"
    granted = who(consents={("all", "marketing"): True})
    assert decide(msg(purpose="marketing"), granted, NONE_SENT, NOON, SETTINGS).action == "send"
    opted_out_later = who(consents={("all", "marketing"): True, ("sms", "marketing"): False})
    assert decide(msg(purpose="marketing", channel="sms"), opted_out_later, NONE_SENT, NOON, SETTINGS).reason == "opted_out"


@pytest.mark.parametrize(("local", "expected"), [
    (shanghai(2025, 3, 3, 8, 59), shanghai(2025, 3, 3, 9)),
    (shanghai(2025, 3, 3, 20, 0), shanghai(2025, 3, 4, 9)),
    (shanghai(2025, 3, 3, 23, 30), shanghai(2025, 3, 4, 9)),
])
def test_outside_the_contact_window_messages_wait_for_it(local, expected):
    decision = decide(msg(), who(), NONE_SENT, local, SETTINGS)
    assert (decision.action, decision.reason, decision.not_before) == ("defer", "contact_window", expected)


def test_one_time_codes_go_at_once_even_at_night_and_despite_dnd():
    decision = decide(msg(urgent=True), who(do_not_disturb=True), NONE_SENT, shanghai(2025, 3, 3, 23), SETTINGS)
    assert decision.action == "send"


def test_festive_greetings_wait_out_qingming():
    decision = decide(msg(festive=True), who(), NONE_SENT, shanghai(2025, 4, 4, 10), SETTINGS)  # 清明 2025
    assert (decision.action, decision.reason, decision.not_before) == ("defer", "mourning_day", shanghai(2025, 4, 5, 9))


def test_no_marketing_from_new_years_eve_to_the_third_day():
    granted = who(consents={("all", "marketing"): True})
    decision = decide(msg(purpose="marketing"), granted, NONE_SENT, shanghai(2026, 2, 16, 10), SETTINGS)  # 除夕 2026
    assert (decision.action, decision.reason, decision.not_before) == ("defer", "spring_festival", shanghai(2026, 2, 20, 9))
    assert decide(msg(), granted, NONE_SENT, shanghai(2026, 2, 17, 10), SETTINGS).action == "send"  # greetings go


def test_frequency_caps():
    granted = who(consents={("all", "marketing"): True})
    assert decide(msg(purpose="marketing"), granted, Recent(0, 1, 1), NOON, SETTINGS).reason == "frequency_cap"
    assert decide(msg(purpose="marketing"), granted, Recent(0, 0, 4), NOON, SETTINGS).reason == "frequency_cap"
    assert decide(msg(purpose="marketing"), granted, Recent(0, 0, 3), NOON, SETTINGS).action == "send"
    held = decide(msg(), who(), Recent(3, 0, 0), NOON, SETTINGS)
    assert (held.action, held.reason, held.not_before) == ("defer", "frequency_cap", shanghai(2025, 3, 4, 9))


def test_a_statutory_notice_reaches_a_customer_who_said_do_not_disturb_or_refused_the_channel():
    notice = msg(purpose="statutory", channel="sms")
    assert decide(notice, who(do_not_disturb=True), NONE_SENT, NOON, SETTINGS).action == "send"
    assert decide(notice, who(status="dormant"), NONE_SENT, NOON, SETTINGS).action == "send"
    assert decide(notice, who(status="closed"), NONE_SENT, NOON, SETTINGS).action == "send"
    refused_sms = who(consents={("sms", "service"): False})
    decision = decide(notice, refused_sms, NONE_SENT, NOON, SETTINGS)
    assert (decision.action, decision.channel) == ("send", "email")  # another reachable channel carries it
    assert decide(msg(channel="sms"), refused_sms, NONE_SENT, NOON, SETTINGS).action == "suppress"


def test_a_statutory_notice_still_waits_for_the_contact_window_and_is_not_capped():
    notice = msg(purpose="statutory")
    late = decide(notice, who(), NONE_SENT, shanghai(2025, 3, 3, 21), SETTINGS)
    assert (late.action, late.reason) == ("defer", "contact_window")
    busy = Recent(service_24h=SETTINGS.contact.cap_service_per_day, marketing_24h=0, marketing_30d=0)
    assert decide(notice, who(), busy, NOON, SETTINGS).action == "send"
    assert decide(notice, who(status="deceased"), NONE_SENT, NOON, SETTINGS).reason == "customer_deceased"
