"""CareFlow's SpiffWorkflow subclasses: the workflow (bug work-arounds) and the script engine.

Work-arounds for SpiffWorkflow 3.2.0 bugs (docs/spiffworkflow.md §4), each covered
by a test in ``tests/unit/test_spiff_workarounds.py`` that also shows the stock failure:

1. ``refresh_timers`` re-arms a timer that an interrupting timer cancelled earlier in the
   same refresh, so the instance never completes → :meth:`CareflowWorkflow.refresh_timers`
   only updates timers that are still WAITING when their turn comes.
2. ``PythonScriptEngine.call_service`` turns every service failure into
   ``NameError: name 'script' is not defined`` → :meth:`CareflowScriptEngine.call_service`.
3. A service task's result must be a JSON string (the library ``json.loads`` it) →
   handlers return plain Python values; the engine encodes them.
4. Task iteration stops at depth 1000, so a process that loops ~250 times stops seeing
   its READY tasks and stalls without an error → :meth:`CareflowWorkflow.get_tasks_iterator`
   lifts the cap (``MAX_DEPTH``).

Elements the library does not run and CareFlow builds on top of it (docs/spiffworkflow.md §6): after every run
of the engine, :meth:`CareflowWorkflow.do_engine_steps` looks again at what only a change of the instance's data
can move — waiting conditional events (``engine.bpmn.conditional``), compensation throws whose handler finished
(``engine.bpmn.compensation``), scopes left with nothing but armed event sub-processes
(``engine.bpmn.event_subprocess``) — and runs on until nothing moves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import compensation, conditional, event_subprocess
from engine.bpmn.scripting import RestrictedEnvironment
from engine.clock import Clock

MAX_DEPTH = 1_000_000
MAX_ROUNDS = 1_000  # engine runs in one step while conditions keep firing; more is a modelling loop


class CareflowWorkflow(BpmnWorkflow):
    def get_tasks_iterator(self, first_task: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("max_depth", MAX_DEPTH)  # the stock 1000 stalls long loops (bug 4 above)
        return super().get_tasks_iterator(first_task, **kwargs)

    def do_engine_steps(self, will_complete_task: Any = None, did_complete_task: Any = None) -> None:
        for _ in range(MAX_ROUNDS):
            super().do_engine_steps(will_complete_task, did_complete_task)
            moved = conditional.reevaluate(self) + compensation.advance(self) + event_subprocess.disarm_idle(self)
            if not moved:
                return
        raise WorkflowException(f"conditional events kept firing for {MAX_ROUNDS} rounds in one step")

    def refresh_timers(self) -> None:
        for task in list(self.event_manager.tasks.values()):
            # The stock loop also updates tasks that an earlier timer in this same loop
            # cancelled, which sets them back to WAITING (bug 1 above).
            if task.state != TaskState.WAITING:
                continue
            if isinstance(task.task_spec.event_definition, (TimerEventDefinition, MultipleEventDefinition)):
                task.task_spec._update(task)


@dataclass(frozen=True)
class ServiceCall:
    """What a service-task handler learns about the call besides its parameters.

    ``effects`` collects side effects (outbox messages) that must commit with this step: the
    runtime stores them in the same transaction as the state, or drops them with it.
    """

    instance_id: str | None
    task_name: str
    now: datetime
    task_id: str = ""
    effects: list[Any] = field(default_factory=list)
    process_key: str | None = None  # the process the calling instance runs (handlers bound to processes check it)


ServiceHandler = Callable[[Mapping[str, Any], ServiceCall], Any]
# (handler name, calling process key, the call's parameter values) -> why it may not be called there, or None.
HandlerGate = Callable[[str, str, Mapping[str, Any]], "str | None"]


def _to_json(value: Any) -> Any:
    if isinstance(value, (Decimal, date, datetime, timedelta)):
        return str(value)
    raise TypeError(f"service result of type {type(value).__name__} is not JSON serializable")


class CareflowScriptEngine(PythonScriptEngine):
    """Restricted scripts, the injected clock, the bank's zone and named service handlers."""

    def __init__(
        self,
        *,
        clock: Clock,
        zone: ZoneInfo,
        handlers: Mapping[str, ServiceHandler],
        instance_id: str | None = None,
        process_key: str | None = None,
        gate: HandlerGate | None = None,
    ) -> None:
        self.clock = clock
        self.zone = zone
        self.handlers = handlers
        self.instance_id = instance_id
        self.process_key = process_key
        self.gate = gate  # which processes may call which handlers (engine.runtime.handlers); None: any
        self.effects: list[Any] = []  # side effects of service calls since the last save (engine.runtime.effects)
        super().__init__(environment=RestrictedEnvironment(script_helpers(clock, zone)))

    def call_service(self, task: Any, **kwargs: Any) -> str:
        name = kwargs.get("operation_name", "")
        handler = self.handlers.get(name)
        if handler is None:
            raise WorkflowTaskException(f"No service handler named {name!r}", task=task)
        params = {key: spec["value"] for key, spec in (kwargs.get("operation_params") or {}).items()}
        if self.gate is not None:
            refusal = self.gate(name, self.process_key or "", params)
            if refusal is not None:
                raise WorkflowTaskException(refusal, task=task)
        call = ServiceCall(self.instance_id, task.task_spec.bpmn_id or task.task_spec.name, self.clock.now(),
                           task_id=str(task.id), process_key=self.process_key)
        try:
            result = handler(params, call)
            encoded = json.dumps(result, default=_to_json)
            self.effects.extend(call.effects)  # only a call that succeeded leaves effects behind
            return encoded
        except WorkflowTaskException:
            raise
        except Exception as exc:  # any handler failure becomes a task error with the real cause
            raise WorkflowTaskException(f"Service {name} failed: {exc}", task=task, exception=exc) from exc


def script_helpers(clock: Clock, zone: ZoneInfo) -> dict[str, Any]:
    """The whitelisted helpers that BPMN scripts and expressions may call."""

    def now() -> datetime:
        """Current time in UTC (from the engine's clock)."""
        return clock.now()

    def today() -> date:
        """Today's date in the bank's time zone."""
        return clock.now().astimezone(zone).date()

    return {
        "now": now,
        "today": today,
        "Decimal": Decimal,
        "date": date,
        "datetime": datetime,
        "timedelta": timedelta,
    }
