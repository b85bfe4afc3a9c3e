"""BPMN elements CareFlow builds on top of SpiffWorkflow 3.2.0 (docs/spiffworkflow.md §6): conditional events, link
events, message and conditional starts of event sub-processes, compensation within one process level.

Every test drives the engine through its services, so the instance is stored and restored from the database
between any two steps (a task completed, a message delivered, a timer fired), as in production.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.db.models import MessageSubscription, ProcessInstance
from engine.db.session import unit_of_work
from engine.errors import InvalidDefinitionError
from engine.runtime.instance import restore, stored_task_data
from engine.services import grants, identity, instances, messages
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn"


def _deploy(ctx, name):
    return deploy(ctx, (name, (FIXTURES / name).read_bytes()))


def _start(ctx, key, **variables):
    return instances.start_instance(ctx, process_key=key, actor=SYSTEM, variables=variables).id


def _names(ctx, instance_id):
    return sorted(t.task_name for t in open_tasks(ctx, instance_id))


def _task(ctx, instance_id, name):
    [task] = [t for t in open_tasks(ctx, instance_id) if t.task_name == name]
    return task


def _status(ctx, instance_id):
    return instances.get_instance(ctx, instance_id, actor=SYSTEM).status


def _data(ctx, instance_id, task_name):
    """The data an open task of the instance sees, read from the stored state."""
    task = _task(ctx, instance_id, task_name)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(ProcessInstance, uuid.UUID(str(instance_id)))
        assert row is not None
        return stored_task_data(ctx, row, uuid.UUID(str(task.id)))


def _final_data(ctx, clock, instance_id):
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(ProcessInstance, uuid.UUID(str(instance_id)))
        return restore(ctx, session, row, clock).data


def _subscriptions(ctx, instance_id):
    with unit_of_work(ctx.sessions, write=False) as session:
        return sorted(session.scalars(select(MessageSubscription.name).where(
            MessageSubscription.instance_id == uuid.UUID(str(instance_id)))).all())


@pytest.fixture
def gateway(ctx, people):
    identity.create_user(ctx, username="case_gateway", roles=["staff"], password="correct horse 1")
    grants.add_grant(ctx, grants.parse("user:case_gateway", "message", "*", "correlate"), by="test",
                     approved_by="test")
    return identity.get_actor(ctx, "case_gateway")


# --- conditional events ---------------------------------------------------------------------------------------------

def test_conditional_catch_fires_when_a_timer_changes_the_data(ctx, clock, people):
    _deploy(ctx, "conditional_catch.bpmn")
    started = _start(ctx, "cond_catch")
    assert _names(ctx, started) == []  # the condition is false: the catch waits, the timer branch waits
    clock.advance(timedelta(hours=1))
    assert fire_due_timers(ctx).fired == 1  # the timer's branch sets priority = "high"; the catch sees it
    assert _names(ctx, started) == ["urgent"]
    claim_and_complete(ctx, _task(ctx, started, "urgent").id, people["alice"])
    assert _status(ctx, started) == "completed"


def test_conditional_catch_already_true_when_reached_goes_straight_on(ctx, people):
    _deploy(ctx, "conditional_catch.bpmn")
    xml = (FIXTURES / "conditional_catch.bpmn").read_bytes().replace(b'priority = "normal"', b'priority = "high"')
    deploy(ctx, ("conditional_catch.bpmn", xml))
    started = _start(ctx, "cond_catch")
    assert _names(ctx, started) == ["urgent"]


def test_non_interrupting_conditional_boundary_fires_once_on_a_completed_form(ctx, people):
    _deploy(ctx, "conditional_boundary.bpmn")
    started = _start(ctx, "cond_boundary")
    assert _names(ctx, started) == ["adjust", "review"]
    claim_and_complete(ctx, _task(ctx, started, "adjust").id, people["alice"], {"amount": 20000})
    assert _names(ctx, started) == ["compliance", "review"]  # the review goes on; the check runs beside it
    claim_and_complete(ctx, _task(ctx, started, "compliance").id, people["alice"])
    assert _names(ctx, started) == ["review"]  # amount stays > 10000: no second compliance check
    claim_and_complete(ctx, _task(ctx, started, "review").id, people["bob"])
    assert _status(ctx, started) == "completed"


def test_interrupting_conditional_boundary_cancels_the_task(ctx, clock, people):
    _deploy(ctx, "conditional_boundary.bpmn")
    started = _start(ctx, "cond_boundary")
    claim_and_complete(ctx, _task(ctx, started, "adjust").id, people["alice"], {"withdrawn": True})
    assert _names(ctx, started) == []  # review cancelled, "close" ran
    assert _status(ctx, started) == "completed"
    assert _final_data(ctx, clock, started)["outcome"] == "withdrawn"


def test_a_condition_that_fails_puts_the_instance_in_error(ctx, people):
    xml = (FIXTURES / "conditional_boundary.bpmn").read_bytes().replace(b"<bpmn:condition>withdrawn<",
                                                                         b"<bpmn:condition>withdrawn_typo<")
    deploy(ctx, ("conditional_boundary.bpmn", xml))
    started = _start(ctx, "cond_boundary")
    view = instances.get_instance(ctx, started, actor=SYSTEM)
    assert view.status == "error" and "withdrawn_typo" in (view.error or {}).get("message", "")


def test_conditional_start_of_a_process_is_refused_with_its_line(ctx):
    xml = b.definitions("cond_start", [
        '<bpmn:startEvent id="start"><bpmn:conditionalEventDefinition><bpmn:condition>True</bpmn:condition>'
        "</bpmn:conditionalEventDefinition></bpmn:startEvent>", b.end()], [b.flow("start", "end")])
    with pytest.raises(InvalidDefinitionError) as caught:
        deploy(ctx, ("cond_start.bpmn", xml))
    [problem] = [p for p in caught.value.problems if "conditional start" in p.message]
    assert problem.element_id == "start" and problem.line is not None


# --- link events ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("urgent", [False, True])
def test_link_throw_goes_on_at_its_catch(ctx, clock, people, urgent):
    _deploy(ctx, "link_events.bpmn")
    started = _start(ctx, "link_flow")
    claim_and_complete(ctx, _task(ctx, started, "prepare").id, people["alice"], {"urgent": urgent})
    assert _names(ctx, started) == ["finish"]
    assert _data(ctx, started, "finish").get("fast", False) is urgent
    claim_and_complete(ctx, _task(ctx, started, "finish").id, people["alice"])
    assert _status(ctx, started) == "completed"


def test_link_without_its_catch_is_refused_at_the_throw(ctx):
    xml = (FIXTURES / "link_events.bpmn").read_bytes().replace(b'id="link_catch" name="finish"',
                                                                b'id="link_catch" name="elsewhere"')
    with pytest.raises(InvalidDefinitionError) as caught:
        deploy(ctx, ("link_events.bpmn", xml))
    assert any(p.element_id in ("go_finish", "go_finish_fast") and "link 'finish'" in p.message and p.line
               for p in caught.value.problems)


# --- event sub-processes ---------------------------------------------------------------------------------------------

def test_message_starts_of_event_subprocesses_are_subscribed_with_the_scope(ctx):
    _deploy(ctx, "event_subprocess_start.bpmn")
    started = _start(ctx, "esp_flow", case_no="C-7", amount=100)
    assert _names(ctx, started) == ["work"]
    assert _subscriptions(ctx, started) == ["cancel_request", "customer_note"]


def test_non_interrupting_message_start_runs_beside_the_scope_and_stays_subscribed(ctx, gateway, people):
    _deploy(ctx, "event_subprocess_start.bpmn")
    started = _start(ctx, "esp_flow", case_no="C-7", amount=100)
    result = messages.deliver_message(ctx, name="customer_note", message_id="n-1", actor=gateway,
                                      correlation={"case_no": "C-7"}, payload={"case_no": "C-7", "text": "请回电"})
    assert result.instance_ids == (started,)
    assert _names(ctx, started) == ["read_note", "work"]
    assert _data(ctx, started, "read_note")["note"]["text"] == "请回电"
    assert _subscriptions(ctx, started) == ["cancel_request", "customer_note"]  # armed again for the next note
    messages.deliver_message(ctx, name="customer_note", message_id="n-2", actor=gateway,
                             correlation={"case_no": "C-7"}, payload={"case_no": "C-7", "text": "again"})
    assert _names(ctx, started) == ["read_note", "read_note", "work"]


def test_interrupting_message_start_cancels_the_scope(ctx, clock, gateway, people):
    _deploy(ctx, "event_subprocess_start.bpmn")
    started = _start(ctx, "esp_flow", case_no="C-8", amount=100)
    other = _start(ctx, "esp_flow", case_no="C-9", amount=100)
    messages.deliver_message(ctx, name="cancel_request", message_id="c-1", actor=gateway,
                             correlation={"case_no": "C-8"}, payload={"case_no": "C-8"})
    assert _names(ctx, started) == [] and _status(ctx, started) == "completed"
    assert _final_data(ctx, clock, started)["outcome"] == "cancelled"
    assert _subscriptions(ctx, started) == []
    assert _names(ctx, other) == ["work"]  # correlation: the other case is untouched


def test_scope_completes_with_armed_event_subprocesses_left(ctx, people):
    _deploy(ctx, "event_subprocess_start.bpmn")
    started = _start(ctx, "esp_flow", case_no="C-10", amount=100)
    claim_and_complete(ctx, _task(ctx, started, "work").id, people["alice"])
    claim_and_complete(ctx, _task(ctx, started, "review").id, people["bob"])
    assert _status(ctx, started) == "completed" and _subscriptions(ctx, started) == []


def test_conditional_start_of_an_event_subprocess_fires_on_changed_data(ctx, people):
    _deploy(ctx, "event_subprocess_start.bpmn")
    started = _start(ctx, "esp_flow", case_no="C-11", amount=100)
    claim_and_complete(ctx, _task(ctx, started, "work").id, people["alice"], {"amount": 50000})
    assert _names(ctx, started) == ["compliance", "review"]
    claim_and_complete(ctx, _task(ctx, started, "compliance").id, people["alice"])
    claim_and_complete(ctx, _task(ctx, started, "review").id, people["bob"])
    assert _status(ctx, started) == "completed"


# --- compensation -----------------------------------------------------------------------------------------------------

def test_compensation_runs_handlers_in_reverse_order_of_completion(ctx, clock, people):
    _deploy(ctx, "compensation.bpmn")
    started = _start(ctx, "comp_flow")
    claim_and_complete(ctx, _task(ctx, started, "charge").id, people["alice"], {"result": "failed"})
    # charge completed last: its handler (a person's refund) comes first; the bookings wait for it
    assert _names(ctx, started) == ["refund"]
    assert _data(ctx, started, "refund")["undone"] == []
    claim_and_complete(ctx, _task(ctx, started, "refund").id, people["bob"], {"refunded": True})
    assert _names(ctx, started) == ["tell_customer"]
    seen = _data(ctx, started, "tell_customer")
    assert seen["undone"] == ["car", "hotel"] and seen["refunded"] is True
    claim_and_complete(ctx, _task(ctx, started, "tell_customer").id, people["alice"])
    assert _status(ctx, started) == "completed"


def test_compensation_end_event_with_activity_ref_compensates_only_that_activity(ctx, clock, people):
    _deploy(ctx, "compensation.bpmn")
    started = _start(ctx, "comp_flow")
    claim_and_complete(ctx, _task(ctx, started, "charge").id, people["alice"], {"result": "no_car"})
    assert _status(ctx, started) == "completed"
    assert _final_data(ctx, clock, started)["undone"] == ["car"]


def test_no_compensation_on_the_happy_path(ctx, clock, people):
    _deploy(ctx, "compensation.bpmn")
    started = _start(ctx, "comp_flow")
    claim_and_complete(ctx, _task(ctx, started, "charge").id, people["alice"], {"result": "paid"})
    assert _status(ctx, started) == "completed"
    assert _final_data(ctx, clock, started)["undone"] == []


def test_compensation_from_an_event_subprocess_is_refused_with_its_line(ctx):
    xml = (FIXTURES / "event_subprocess_start.bpmn").read_bytes().replace(
        b'<bpmn:endEvent id="cancel_end" name="\xe5\xb7\xb2\xe5\x8f\x96\xe6\xb6\x88" careflow:nameEn="Cancelled"/>',
        b'<bpmn:endEvent id="cancel_end"><bpmn:compensateEventDefinition/></bpmn:endEvent>')
    with pytest.raises(InvalidDefinitionError) as caught:
        deploy(ctx, ("event_subprocess_start.bpmn", xml))
    assert any(p.element_id == "cancel_end" and "event sub-process" in p.message and p.line
               for p in caught.value.problems)
