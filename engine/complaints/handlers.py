"""Service-task handlers of the complaints processes, registered on every engine context.

- ``careflow.complaint.record`` (``case_no``, ``event``, event values): keeps the case row in step with
  the process — status, handler, answer, rating, review — and records the event. For ``answered`` it
  returns the review window (``review_apply_by``, ``review_closes_at`` for the closing timer) and the
  answer message's outbox key.
- ``careflow.complaint.deadline`` (``case_no``, ``clock``, ``action`` = extend | pause | resume | restart,
  with ``kind`` for extend and ``at`` for restart): returns the new clock with its target, legal and
  warning days (``engine.complaints.deadlines``) for the process's ``clock`` variable, and copies it onto
  the case.

Both are pure: the case row changes through effects applied in the step's transaction
(``engine.complaints.effects``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.bpmn.workflow import ServiceCall
from engine.complaints import deadlines as dl
from engine.complaints import tasks
from engine.complaints.effects import APPLY, CaseEvent, ClockChange, Env
from engine.complaints.records import PROCESS_KEY
from engine.complaints.timeline import complaint_items
from engine.context import EngineContext
from engine.customers.customer360 import add_timeline_source

# Stable handler ids: what processes/*.bpmn and every stored definition name (serviceTaskOperator id="…"). They are
# literals, never derived from a module or function name, so code can move without breaking a deployed process.
RECORD = "careflow.complaint.record"
DEADLINE = "careflow.complaint.deadline"
HANDLER_IDS = (RECORD, DEADLINE)


def register(ctx: EngineContext) -> None:
    """Add this package's handlers and hooks to ``ctx`` (called by build_engine): the service handlers, the task
    shaping of complaint tasks, and the complaints on a customer's 360° timeline."""
    add_timeline_source(complaint_items)
    env = Env(ctx.settings, ctx.calendar)
    ctx.register_handler(RECORD, lambda params, call: record(env, params, call), processes=(PROCESS_KEY,))
    ctx.register_handler(DEADLINE, lambda params, call: deadline(env, params, call), processes=(PROCESS_KEY,))
    tasks.install(ctx)


def record(env: Env, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
    case_no, event = str(params.get("case_no") or ""), str(params.get("event") or "")
    if not case_no or event not in APPLY:
        raise ValueError(f"{RECORD} needs a case_no and one of the events {sorted(APPLY)}, got {event!r}")
    values = {k: v for k, v in params.items() if k not in ("case_no", "event")}
    result: dict[str, Any] = {"event": event}
    if event == "answered":
        apply_by = dl.review_apply_by(call.now, env.calendar, env.settings)
        result = {
            "event": event, "review_apply_by": apply_by.isoformat(),
            # The window closes when the last day to apply ends (bank-local midnight after it).
            "review_closes_at": dl.start_of_day(apply_by + timedelta(days=1), env.settings.zone).isoformat(),
            "outbox_key": f"{case_no}:answer:{call.task_id}",
        }
        values.update(result)
    call.effects.append(CaseEvent(env, case_no, event, values))
    return result


def deadline(env: Env, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
    case_no, action = str(params.get("case_no") or ""), str(params.get("action") or "")
    clock, paused_at = dl.clock_from_data(dict(params["clock"]))
    zone = env.settings.zone
    if action == "extend":
        kind = str(params.get("kind") or "")
        if kind not in ("complex", "special"):
            raise ValueError(f"extension must be complex or special, got {kind!r}")
        clock = dl.extend(clock, kind)  # type: ignore[arg-type]
    elif action == "pause":
        paused_at = paused_at or call.now
    elif action == "resume":
        # complaint_pause_for_external_appraisal off: the appraisal is recorded but its days still count.
        if paused_at is not None and env.settings.complaints.pause_for_external_appraisal:
            clock, paused_at = dl.resume(clock, paused_at, call.now, zone), None
        paused_at = None
    elif action == "restart":
        clock, paused_at = dl.restart(clock, datetime.fromisoformat(str(params["at"])), zone), None
    else:
        raise ValueError(f"{DEADLINE} action must be extend, pause, resume or restart, got {action!r}")
    data = dl.clock_data(clock, dl.deadlines(clock, env.calendar, env.settings), paused_at)
    extra = {k: v for k, v in params.items() if k in ("reason", "by", "repeat")}
    call.effects.append(ClockChange(env, case_no, action, data, extra))
    return data
