"""Clock-aware timer event definitions that replace SpiffWorkflow's at load time.

SpiffWorkflow 3.2 reads ``datetime.now`` inside its timer classes and interprets naive
``timeDate`` values in the server's local offset. CareFlow's versions read the clock of
the script engine (``engine.clock``) and interpret naive dates in the bank's zone, so
tests move time with a frozen clock and production is independent of the server's TZ.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)


def _engine_of(my_task: Any) -> Any:
    return my_task.workflow.top_workflow.script_engine


def _now(my_task: Any) -> datetime:
    clock = getattr(_engine_of(my_task), "clock", None)
    if clock is None:  # a workflow run without CareFlow's script engine: refuse, don't guess
        raise RuntimeError("CareFlow timers need a script engine with a clock")
    now: datetime = clock.now()
    return now


def _zone(my_task: Any) -> ZoneInfo:
    zone: ZoneInfo = getattr(_engine_of(my_task), "zone", ZoneInfo("UTC"))
    return zone


def parse_datetime(value: str, zone: ZoneInfo) -> datetime:
    """ISO date/datetime (or ISO week date) → aware UTC; naive values are in the bank's zone."""
    text = value.strip()
    if "W" in text.upper() and not text.upper().startswith("P"):
        return TimerEventDefinition.parse_iso_week(text).astimezone(UTC)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_duration(value: str, start: datetime) -> timedelta:
    """ISO 8601 duration counted from ``start`` (months and years are calendar-aware)."""
    parsed = TimerEventDefinition.parse_iso_duration(value)
    return TimerEventDefinition.get_timedelta_from_start(parsed, start)


def parse_cycle(value: str, now: datetime, zone: ZoneInfo) -> tuple[int, datetime, timedelta]:
    """``R[n]/start/duration``, ``R[n]/duration/end`` or ``R[n]/duration`` (first run after one period)."""
    parts = value.upper().replace("--", "/").strip().lstrip("R").split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"invalid recurring interval {value!r}")
    cycles = int(parts[0]) if parts[0] else -1
    first, second = parts[1], parts[2] if len(parts) == 3 else None
    if second is None:
        duration = parse_duration(first, now)
        return cycles, now + duration, duration
    if first.startswith("P"):
        end = parse_datetime(second, zone)
        parsed = TimerEventDefinition.parse_iso_duration(first)
        duration = TimerEventDefinition.get_timedelta_from_end(parsed, end)
        return cycles, end - duration, duration
    start = parse_datetime(first, zone)
    return cycles, start, parse_duration(second, start)


def check_timer_value(kind: str, value: str) -> None:
    """Raise ValueError if an evaluated timer value is not valid for its kind (deploy-time lint)."""
    now, zone = datetime(2000, 1, 1, tzinfo=UTC), ZoneInfo("UTC")
    if not any(ch.isdigit() for ch in value):
        raise ValueError("no date, time or amount in it")
    if kind == "date":
        parse_datetime(value, zone)
    elif kind == "duration":
        parse_duration(value, now)
    else:
        parse_cycle(value, now, zone)


class ClockedTimeDate(TimeDateEventDefinition):
    def has_fired(self, my_task: Any) -> bool:
        value = my_task._get_internal_data("event_value")
        if value is None:
            value = str(my_task.workflow.script_engine.evaluate(my_task, self.expression))
            value = parse_datetime(value, _zone(my_task)).isoformat()
            my_task._set_internal_data(event_value=value)
        if datetime.fromisoformat(value) <= _now(my_task):
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedDuration(DurationTimerEventDefinition):
    def has_fired(self, my_task: Any) -> bool:
        value = my_task._get_internal_data("event_value")
        now = _now(my_task)
        if value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            value = (now + parse_duration(str(expression), now)).isoformat()
            my_task._set_internal_data(event_value=value)
        if datetime.fromisoformat(value) <= now:
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedCycle(CycleTimerEventDefinition):
    def cycle_complete(self, my_task: Any) -> bool:
        value = my_task._get_internal_data("event_value")
        now = _now(my_task)
        if value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            cycles, start, duration = parse_cycle(str(expression), now, _zone(my_task))
            value = {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}
        ready = False
        if value["cycles"] != 0:
            next_event = datetime.fromisoformat(value["next"])
            if next_event <= now:
                value["next"] = (next_event + timedelta(seconds=value["duration"])).isoformat()
                value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=value)
        return ready


REPLACEMENTS: dict[type, type] = {
    TimeDateEventDefinition: ClockedTimeDate,
    DurationTimerEventDefinition: ClockedDuration,
    CycleTimerEventDefinition: ClockedCycle,
}
CLOCKED_TIMER_CLASSES = tuple(REPLACEMENTS.values())


def _clocked(definition: Any) -> Any:
    replacement = REPLACEMENTS.get(type(definition))
    if replacement is not None:
        new = replacement(definition.name, definition.expression, description=definition.description)
        return new
    if isinstance(definition, MultipleEventDefinition):
        definition.event_definitions = [_clocked(d) for d in definition.event_definitions]
    return definition


def install_clocked_timers(specs: list[Any]) -> int:
    """Swap every stock timer definition in these process specs for a clocked one; returns the count."""
    count = 0
    for spec in specs:
        for task_spec in spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if definition is None:
                continue
            task_spec.event_definition = _clocked(definition)
            count += task_spec.event_definition is not definition
    return count


def stock_timer_definitions(specs: list[Any]) -> list[str]:
    """Names of task specs still holding a stock (wall-clock) timer: must be empty after loading."""
    found = []
    for spec in specs:
        for name, task_spec in spec.task_specs.items():
            definition = getattr(task_spec, "event_definition", None)
            inner = getattr(definition, "event_definitions", [definition])
            if any(type(d) in REPLACEMENTS for d in inner):
                found.append(name)
    return found


# --- ISO-8601 literals as other modelers write them (<timeDuration>PT1H</timeDuration>) ----------------------------

_DURATION = (r"P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
             r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?")
_DATE = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
_ISO = {
    "duration": re.compile(rf"^{_DURATION}$", re.IGNORECASE),
    "date": re.compile(rf"^{_DATE}$", re.IGNORECASE),
    "cycle": re.compile(rf"^R\d*/(({_DURATION})|({_DATE}))(/(({_DURATION})|({_DATE})))?$", re.IGNORECASE),
}
_CRON = re.compile(r"^(\S+\s+){4,6}\S+$")


def iso_literal(kind: str, text: str) -> str | None:
    """The quoted CareFlow expression for an unquoted ISO-8601 timer literal of this kind, else None.

    ``kind`` is ``date``, ``duration`` or ``cycle``. A cron expression (Camunda accepts them for cycles) raises
    ValueError: CareFlow's cycles are ISO-8601 repeating intervals only.
    """
    value = text.strip()
    if _ISO[kind].match(value):
        check_timer_value(kind, value)  # raises ValueError for a literal the parser cannot read
        return json.dumps(value)
    if kind == "cycle" and _CRON.match(value) and not value.startswith(("R", "r")):
        raise ValueError(f"cron expressions are not supported ({value!r}); write an ISO-8601 repeating interval "
                         "such as R/PT1H or R/2026-01-05T09:00:00+08:00/P1D")
    return None
