"""Inbound messages: correlation routing and idempotency."""

from __future__ import annotations

import pytest

from engine.errors import InvalidInputError, MessageNotCorrelatedError
from engine.services import grants, identity, instances, messages
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks


@pytest.fixture
def waiting(ctx):
    xml = b.definitions(
        "reply_flow",
        [b.start(), b.message_catch("wait_reply", "customer_reply", "reply", correlate="case_no"),
         b.user_task("read", candidateGroups="service_team"), b.end()],
        [b.flow("start", "wait_reply"), b.flow("wait_reply", "read"), b.flow("read", "end")],
        root=b.message_defs("customer_reply", "case_no"),
        collaboration=b.correlation_key("case", "case_no"),
    )
    deploy(ctx, ("reply.bpmn", xml))
    return {case: instances.start_instance(ctx, process_key="reply_flow", actor=SYSTEM,
                                           variables={"case_no": case}).id for case in ("A-1", "A-2")}


@pytest.fixture
def gateway(ctx, people):
    """The SMS gateway's service account: staff, allowed to deliver every message but the customer's own acts."""
    identity.create_user(ctx, username="sms_gateway", roles=["staff"], password="correct horse 1")
    grants.add_grant(ctx, grants.parse("user:sms_gateway", "message", "*", "correlate"), by="test", approved_by="test")
    return identity.get_actor(ctx, "sms_gateway")


def test_message_reaches_the_instance_with_matching_correlation(ctx, gateway, waiting):
    result = messages.deliver_message(ctx, name="customer_reply", message_id="sms-1", actor=gateway,
                                      correlation={"case_no": "A-2"}, payload={"case_no": "A-2", "text": "满意"})
    assert result.instance_ids == (waiting["A-2"],) and not result.duplicate
    [task] = open_tasks(ctx, waiting["A-2"])
    assert task.task_name == "read"
    assert open_tasks(ctx, waiting["A-1"]) == []
    history = instances.get_instance(ctx, waiting["A-2"], actor=SYSTEM).history
    assert history[-1].action == "message.received"


def test_the_same_message_id_twice_changes_nothing(ctx, gateway, waiting):
    first = messages.deliver_message(ctx, name="customer_reply", message_id="sms-7", actor=gateway,
                                     correlation={"case_no": "A-1"}, payload={"case_no": "A-1"})
    second = messages.deliver_message(ctx, name="customer_reply", message_id="sms-7", actor=gateway,
                                      correlation={"case_no": "A-1"}, payload={"case_no": "A-1"})
    assert second.duplicate and second.instance_ids == first.instance_ids
    assert len(open_tasks(ctx, waiting["A-1"])) == 1
    assert len(instances.get_instance(ctx, waiting["A-1"], actor=SYSTEM).history) == 2


def test_unmatched_message_is_refused_and_not_recorded(ctx, gateway, waiting):
    with pytest.raises(MessageNotCorrelatedError):
        messages.deliver_message(ctx, name="customer_reply", message_id="sms-9", actor=gateway,
                                 correlation={"case_no": "ZZZ"}, payload={"case_no": "ZZZ"})
    # not recorded: the same id can be delivered once the right instance waits for it
    ok = messages.deliver_message(ctx, name="customer_reply", message_id="sms-9", actor=gateway,
                                  correlation={"case_no": "A-1"}, payload={"case_no": "A-1"})
    assert ok.instance_ids == (waiting["A-1"],)


def test_message_input_is_checked(ctx, gateway):
    with pytest.raises(InvalidInputError):
        messages.deliver_message(ctx, name="", message_id="x", actor=gateway)
    with pytest.raises(InvalidInputError):
        messages.deliver_message(ctx, name="n", message_id="x", actor=gateway, payload=[1])  # type: ignore


def _feedback_or_timeout(ctx):
    """Wait for the customer's feedback or chase after 7 days (event-based gateway)."""
    xml = b.definitions(
        "feedback",
        [b.start(), '<bpmn:eventBasedGateway id="wait"/>',
         b.message_catch("reply", "customer_feedback", "feedback", correlate="case_no"),
         b.timer_catch("timeout", "duration", '"P7D"'),
         b.user_task("read", candidateGroups="service_team"), b.user_task("chase", candidateGroups="service_team"),
         b.end(), b.end("e2")],
        [b.flow("start", "wait"), b.flow("wait", "reply"), b.flow("wait", "timeout"), b.flow("reply", "read"),
         b.flow("timeout", "chase"), b.flow("read", "end"), b.flow("chase", "e2")],
        root=b.message_defs("customer_feedback", "case_no"),
        collaboration=b.correlation_key("case", "case_no"),
    )
    deploy(ctx, ("feedback.bpmn", xml))
    return {case: instances.start_instance(ctx, process_key="feedback", actor=SYSTEM,
                                           variables={"case_no": case}).id for case in ("F-1", "F-2")}


def test_event_gateway_routes_by_correlation_that_spiffworkflow_ignores_there(ctx, gateway):
    started = _feedback_or_timeout(ctx)
    assert [t.name for t in instances.get_instance(ctx, started["F-1"], actor=SYSTEM).timers] == ["wait"]
    result = messages.deliver_message(ctx, name="customer_feedback", message_id="fb-1", actor=gateway,
                                      correlation={"case_no": "F-2"}, payload={"case_no": "F-2", "score": 5})
    assert result.instance_ids == (started["F-2"],)
    assert [t.task_name for t in open_tasks(ctx, started["F-2"])] == ["read"]
    assert open_tasks(ctx, started["F-1"]) == []  # the other case still waits
    view = instances.get_instance(ctx, started["F-2"], actor=SYSTEM)
    assert view.timers == []  # the losing branch's timer is gone


def test_event_gateway_timer_wins_when_no_feedback_arrives(ctx, gateway, clock):
    from datetime import timedelta

    from engine.services.timers import fire_due_timers

    started = _feedback_or_timeout(ctx)
    clock.advance(timedelta(days=7))
    assert fire_due_timers(ctx).fired == 2
    assert [t.task_name for t in open_tasks(ctx, started["F-1"])] == ["chase"]
    with pytest.raises(MessageNotCorrelatedError):  # the message branch was withdrawn with the gateway
        messages.deliver_message(ctx, name="customer_feedback", message_id="late", actor=gateway,
                                 correlation={"case_no": "F-1"}, payload={"case_no": "F-1"})
