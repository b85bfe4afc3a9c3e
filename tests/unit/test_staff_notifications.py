"""Staff notifications outside the app: each person's own settings, and staff messages through the outbox (no
customer rule applies; the settings are read again at sending)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import InvalidInputError
from engine.outbox.dispatch import dispatch_due
from engine.outbox.models import OutboxMessage
from engine.services import instances, notification_settings, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.care import RecordingChannel
from tests.support.engine import deploy, open_tasks


@pytest.fixture
def email(ctx):
    channel = RecordingChannel("email")
    ctx.register_channel(channel)
    return channel


def _task(ctx):
    deploy(ctx, ("plain.bpmn", b.linear("plain", b.user_task("call", "回电 Call back", candidateGroups="service_team"))))
    [task] = open_tasks(ctx, instances.start_instance(ctx, process_key="plain", actor=SYSTEM).id)
    return task


def _staff_rows(ctx):
    with ctx.sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.recipient_kind == "staff")))


def test_settings_are_checked_and_only_offer_configured_channels(ctx, people, email):
    alice = people["alice"]
    assert notification_settings.get_settings(ctx, actor=alice) == notification_settings.DEFAULT
    assert notification_settings.available_channels(ctx) == ("inapp", "email")
    with pytest.raises(InvalidInputError):
        notification_settings.save_settings(ctx, actor=alice, channel="email", address="not an address",
                                            events=["task_assigned"])
    with pytest.raises(InvalidInputError):
        notification_settings.save_settings(ctx, actor=alice, channel="wecom", address="alice", events=[])
    with pytest.raises(InvalidInputError):
        notification_settings.save_settings(ctx, actor=alice, channel="email", address="a@bank.cn", events=["x"])
    saved = notification_settings.save_settings(ctx, actor=alice, channel="email", address="alice@bank.cn",
                                                events=["sla_breached", "task_assigned"])
    assert saved.events == ("task_assigned", "sla_breached")
    assert notification_settings.get_settings(ctx, actor=people["bob"]) == notification_settings.DEFAULT


def test_an_assignment_reaches_the_chosen_channel_and_opting_out_stops_what_is_queued(ctx, people, email):
    alice, sam = people["alice"], people["sam"]
    notification_settings.save_settings(ctx, actor=alice, channel="email", address="alice@bank.cn",
                                        events=["task_assigned"])
    task = _task(ctx)
    tasks.assign_task(ctx, task.id, actor=sam, assignee="alice")
    [row] = _staff_rows(ctx)
    assert (row.channel, row.staff_user, row.customer_id, row.purpose) == ("email", "alice", None, "staff")
    dispatch_due(ctx)
    [sent] = email.delivered.values()
    assert sent.address == "alice@bank.cn" and sent.body.startswith("【CareFlow】有任务分配给你：回电")
    assert f"/inbox/tasks/{task.id}" in sent.body and "Call back" not in sent.body
    # Bob asked for nothing by e-mail: the bell only.
    tasks.unclaim_task(ctx, task.id, actor=sam)
    tasks.assign_task(ctx, task.id, actor=sam, assignee="bob")
    assert len(_staff_rows(ctx)) == 1
    # Queued, then switched off before sending: suppressed, not sent.
    tasks.unclaim_task(ctx, task.id, actor=sam)
    tasks.assign_task(ctx, task.id, actor=sam, assignee="alice")
    notification_settings.save_settings(ctx, actor=alice, channel="inapp", address=None, events=[])
    report = dispatch_due(ctx)
    assert report.suppressed == 1 and len(email.delivered) == 1
    assert sorted(r.status_reason or "" for r in _staff_rows(ctx)) == ["", "staff_opted_out"]
