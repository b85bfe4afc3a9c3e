"""A bulk start (start_instances) gathers its instances' leaf rows into one multi-row INSERT per table
(engine.db.bulk): each instance still gets exactly the rows a single start writes, and its audit chain verifies."""

from __future__ import annotations

from sqlalchemy import func, select

from engine import audit
from engine.db.history import ActivityHistory
from engine.db.models import AuditEvent, MessageSubscription, ProcessInstance, Timer
from engine.services.instances import StartRequest, start_instance, start_instances
from engine.views import SYSTEM
from tests.support.care import add_customers, customer, deploy_care

VARIABLES = {"occasion": "national_day", "tier": "mass", "manager": "m1", "occasion_zh": "国庆节",
             "occasion_en": "National Day", "wish_zh": "国庆快乐", "wish_en": "a happy National Day"}


def _rows_per_instance(ctx) -> dict[str, tuple[int, int, int, int]]:
    with ctx.sessions() as session:
        out = {}
        for instance in session.scalars(select(ProcessInstance)):
            out[instance.business_key] = tuple(int(session.scalar(select(func.count()).select_from(table).where(
                column == value)) or 0) for table, column, value in (
                (Timer, Timer.instance_id, instance.id),
                (MessageSubscription, MessageSubscription.instance_id, instance.id),
                (ActivityHistory, ActivityHistory.instance_id, instance.id),
                (AuditEvent, AuditEvent.stream, f"instance:{instance.id}")))
            assert audit.verify_stream(session, f"instance:{instance.id}").ok
        return out


def test_a_bulk_start_writes_what_single_starts_write(ctx):
    deploy_care(ctx, "holiday_care")
    add_customers(ctx, *(customer(f"B{i}") for i in range(4)))
    start_instance(ctx, process_key="holiday_care", actor=SYSTEM, business_key="single", customer_id="B0",
                   variables={**VARIABLES, "customer_id": "B0"})
    result = start_instances(ctx, process_key="holiday_care", actor=SYSTEM, requests=[
        StartRequest(f"bulk-{i}", f"B{i}", {**VARIABLES, "customer_id": f"B{i}"}) for i in range(4)])
    assert len(result.started) == 4
    rows = _rows_per_instance(ctx)
    assert rows["single"][0] + rows["single"][1] >= 1 and rows["single"][2] >= 1  # waits on something, has history
    assert {key: value for key, value in rows.items() if key != "single"} == {f"bulk-{i}": rows["single"]
                                                                               for i in range(4)}


def test_a_bulk_start_whose_first_step_is_a_task_and_whose_hook_reads_the_database(ctx):
    from engine.customers.models import Customer
    from engine.db.models import HumanTask
    from tests.support import bpmn as b
    from tests.support.engine import deploy

    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    add_customers(ctx, *(customer(f"T{i}") for i in range(3)))
    seen = []

    def hook(session, request):  # an ORM read inside the batch: autoflush with the gathered rows not yet sent
        seen.append(session.get(Customer, request.customer_id).id)

    result = start_instances(ctx, process_key="simple", actor=SYSTEM, on_started=hook, requests=[
        StartRequest(f"task-{i}", f"T{i}", {}) for i in range(3)])
    assert len(result.started) == 3 and seen == ["T0", "T1", "T2"]
    with ctx.sessions() as session:
        tasks = session.scalars(select(HumanTask)).all()
        assert sorted(str(t.instance_id) for t in tasks) == sorted(result.started)
        for instance_id in result.started:
            assert audit.verify_stream(session, f"instance:{instance_id}").ok


def test_a_bulk_start_mixing_instances_that_wait_on_a_task_and_instances_that_end_at_once(ctx):
    """The projection sends the gathered rows before a first task; the rows gathered after that send (the waiting
    instance's history) must still go after the next instance's own row (once a foreign key error on SQLite)."""
    from tests.support import bpmn as b
    from tests.support.engine import deploy

    xml = b.definitions("fork", [b.start(), b.gateway("gw", default="flow_gw_done"), b.user_task("work"),
                                 b.end("done"), b.end("end")],
                        [b.flow("start", "gw"), b.flow("gw", "work", "wait"), b.flow("gw", "done"),
                         b.flow("work", "end")])
    deploy(ctx, ("fork.bpmn", xml))
    result = start_instances(ctx, process_key="fork", actor=SYSTEM, requests=[
        StartRequest(f"mix-{i}", None, {"wait": i % 2 == 0}) for i in range(6)])
    assert len(result.started) == 6
    rows = _rows_per_instance(ctx)
    assert all(history >= 2 for _, _, history, _ in rows.values()), rows
