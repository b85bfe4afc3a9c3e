"""Each member of staff's own notification settings: which events also reach them outside the app (the bell always
shows every event), by which channel (e-mail, WeCom where an adapter is configured), at which address.

Only the person themselves reads and changes their settings; every change is audited on ``staff_settings:<user>``.
The messages themselves go through the outbox like customers' (retries, dead letters), marked as staff messages so
that no customer rule (consent, contact window, caps) applies to them (engine.notify, engine.outbox.dispatch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine import audit
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.db.worklist import StaffNotificationSetting
from engine.errors import InvalidInputError
from engine.notify import KINDS
from engine.services.authz import require_any_role
from engine.views import Actor

CHANNELS = ("inapp", "email", "wecom")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
WECOM_USER = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True)
class NotificationSettings:
    channel: str
    address: str | None
    events: tuple[str, ...]


DEFAULT = NotificationSettings("inapp", None, ())


def available_channels(ctx: EngineContext) -> tuple[str, ...]:
    """The channels a person may choose: the bell, and e-mail or WeCom when the deployment has that adapter."""
    return tuple(c for c in CHANNELS if c == "inapp" or c in ctx.channels)


def get_settings(ctx: EngineContext, *, actor: Actor) -> NotificationSettings:
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(StaffNotificationSetting, actor.username)
        if row is None:
            return DEFAULT
        return NotificationSettings(row.channel, row.address, tuple(e for e in row.events.split(",") if e))


def save_settings(ctx: EngineContext, *, actor: Actor, channel: str, address: str | None,
                  events: list[str]) -> NotificationSettings:
    """Replace the actor's own settings. Raises InvalidInputError (unknown channel or event, an address that does
    not fit the channel, a channel this deployment cannot send by)."""
    require_any_role(actor)
    if channel not in available_channels(ctx):
        raise InvalidInputError(f"channel must be one of {', '.join(available_channels(ctx))}")
    unknown = sorted(set(events) - set(KINDS))
    if unknown:
        raise InvalidInputError(f"unknown events: {', '.join(unknown)}")
    address = (address or "").strip() or None
    if channel == "email" and not (address and EMAIL.match(address)):
        raise InvalidInputError("an e-mail address is needed, like name@bank.example")
    if channel == "wecom" and not (address and WECOM_USER.match(address)):
        raise InvalidInputError("a WeCom user id is needed (letters, digits, _ . @ -)")
    if channel == "inapp":
        address = None
    chosen = tuple(k for k in KINDS if k in events)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.get(StaffNotificationSetting, actor.username)
        before = {"channel": row.channel, "events": row.events, "address_set": bool(row.address)} if row else None
        if row is None:
            row = StaffNotificationSetting(username=actor.username)
            session.add(row)
        row.channel, row.address, row.events, row.updated_at = channel, address, ",".join(chosen), now
        audit.append(session, stream=f"staff_settings:{actor.username}", actor=actor.username,
                     action="notification_settings.changed", subject_type="user", subject_id=actor.username, at=now,
                     before=before, after={"channel": channel, "events": ",".join(chosen), "address_set": bool(address)})
    return NotificationSettings(channel, address, chosen)
