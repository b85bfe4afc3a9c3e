"""Whether a message may go out now: consent, do-not-disturb, contact window, quiet days, caps.

A pure function over what the dispatcher read in its transaction, so every rule is tested on its
own (docs/domain.md §3.5, §5.6). Checked at send time, not at queue time: an opt-out or a do-not-disturb
entry stops every message that has not yet been handed to a channel. Refusals are final
(``suppress``); rules about *when* make the message wait (``defer``) — never drop it.

Statutory notices (a complaint's acknowledgement, extension notice and decision: the bank must tell
the complainant, docs/domain.md §1.4–1.5) are not refused by do-not-disturb, dormancy or a channel's
opt-out — another reachable channel carries them — and are never capped; they still wait for the
contact window unless urgent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.config import Settings
from engine.rules.care_dates import holiday_occasions, is_qingming

CHANNEL_FALLBACK = ("sms", "wechat", "email", "inapp")


@dataclass(frozen=True)
class Recipient:
    """What the policy needs to know about the customer (no contact data, only whether it exists)."""

    status: str
    do_not_disturb: bool
    preferred_channel: str
    reachable: frozenset[str]  # channels with an address on file
    consents: Mapping[tuple[str, str], bool]  # (channel or "all", purpose) -> granted


@dataclass(frozen=True)
class Sendable:
    purpose: str  # "service" | "marketing"
    channel: str  # a channel name or "auto" (the customer's preferred reachable channel)
    urgent: bool
    festive: bool
    allowed_channels: tuple[str, ...]


@dataclass(frozen=True)
class Recent:
    """Messages already sent to this customer (excluding the one being decided)."""

    service_24h: int
    marketing_24h: int
    marketing_30d: int


@dataclass(frozen=True)
class Decision:
    action: str  # "send" | "defer" | "suppress"
    reason: str | None = None
    channel: str | None = None
    not_before: datetime | None = None


def decide(message: Sendable, recipient: Recipient | None, recent: Recent, now: datetime, settings: Settings) -> Decision:
    refusal = _refusal(message, recipient, opt_in=settings.contact.marketing_requires_opt_in)
    if refusal is not None:
        return Decision("suppress", refusal)
    assert recipient is not None
    channel = choose_channel(message, recipient)
    if channel is None:
        return Decision("suppress", "no_address")
    zone = settings.zone
    local = now.astimezone(zone)
    if not message.urgent:
        wait = _wait(message, local, settings)
        if wait is not None:
            return Decision("defer", wait[0], channel, wait[1])
        if message.purpose == "marketing" and (recent.marketing_24h >= settings.contact.cap_marketing_per_day
                                               or recent.marketing_30d >= settings.contact.cap_marketing_per_30_days):
            return Decision("suppress", "frequency_cap", channel)
        if message.purpose == "service" and recent.service_24h >= settings.contact.cap_service_per_day:
            return Decision("defer", "frequency_cap", channel, window_start(local.date() + timedelta(days=1), settings))
    return Decision("send", None, channel)


def _refusal(message: Sendable, recipient: Recipient | None, *, opt_in: bool = True) -> str | None:
    if recipient is None:
        return "unknown_customer"
    if recipient.status in ("deceased", "erased") or (recipient.status == "closed" and message.purpose != "statutory"):
        return f"customer_{recipient.status}"
    if message.purpose == "statutory":
        return None
    if recipient.status == "dormant" and not message.urgent:
        return "customer_dormant"
    if recipient.do_not_disturb and not message.urgent:
        return "do_not_disturb"
    channel = message.channel if message.channel != "auto" else None
    for scope in ("all", channel):
        if scope and recipient.consents.get((scope, message.purpose)) is False:
            return "opted_out"
    if message.purpose == "marketing" and opt_in:
        granted = recipient.consents.get(("all", "marketing")) or (channel and recipient.consents.get((channel, "marketing")))
        if not granted:
            return "no_marketing_consent"
    return None


def choose_channel(message: Sendable, recipient: Recipient) -> str | None:
    """The named channel, or the customer's preferred one, else the first reachable fallback."""
    if message.channel != "auto":
        if message.channel in recipient.reachable and not (
                message.purpose == "statutory" and _refused(recipient, message.channel, message)):
            return message.channel
        if message.purpose != "statutory":
            return None
    order = (recipient.preferred_channel, *CHANNEL_FALLBACK)
    for channel in order:
        if channel in recipient.reachable and channel in message.allowed_channels and not _refused(recipient, channel, message):
            return channel
    return None


def _refused(recipient: Recipient, channel: str, message: Sendable) -> bool:
    # A statutory notice avoids a channel the customer refused service messages on, if another is reachable.
    purpose = "service" if message.purpose == "statutory" else message.purpose
    return recipient.consents.get((channel, purpose)) is False


def _wait(message: Sendable, local: datetime, settings: Settings) -> tuple[str, datetime] | None:
    """(reason, when) if the message must wait; in the bank's zone, converted by the caller's clock."""
    today = local.date()
    if message.festive and is_qingming(today):
        return "mourning_day", window_start(today + timedelta(days=1), settings)
    if message.purpose == "marketing" and settings.contact.marketing_quiet_spring_festival:
        quiet_end = _spring_festival_quiet_end(today)
        if quiet_end is not None:
            return "spring_festival", window_start(quiet_end + timedelta(days=1), settings)
    opens, closes = (_at(today, value, settings.zone) for value in settings.contact.window)
    if local < opens:
        return "contact_window", opens
    if local >= closes:
        return "contact_window", window_start(today + timedelta(days=1), settings)
    return None


def _spring_festival_quiet_end(day: date) -> date | None:
    """The last quiet day (初三) if ``day`` lies between 除夕 and 初三 (docs/domain.md §3.5)."""
    for year in (day.year, day.year + 1):
        festival = next(o.day for o in holiday_occasions(year) if o.key == "spring_festival")
        if festival - timedelta(days=1) <= day <= festival + timedelta(days=2):
            return festival + timedelta(days=2)
    return None


def window_start(day: date, settings: Settings) -> datetime:
    return _at(day, settings.contact.window[0], settings.zone)


def _at(day: date, value: str, zone: ZoneInfo) -> datetime:
    hours, minutes = (int(part) for part in value.split(":"))
    if hours == 24:
        return datetime.combine(day + timedelta(days=1), time(0, minutes), tzinfo=zone)
    return datetime.combine(day, time(hours, minutes), tzinfo=zone)
