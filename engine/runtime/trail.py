"""Where an instance is now and where it has been, read from its SpiffWorkflow state.

The stored state holds every step taken (completed tasks, with the time of their last state
change) and every step the instance waits in, for all element kinds (gateways, scripts, events),
not only the user tasks that have ``human_task`` rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.util.task import TaskState

WAITING = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


@dataclass(frozen=True)
class Trail:
    current: tuple[str, ...]  # element ids the instance waits in
    visited: dict[str, int]  # element id → times completed
    failed: tuple[str, ...]  # element ids in error


def trail(workflow: Any) -> Trail:
    visited: Counter[str] = Counter()
    current: list[str] = []
    failed: list[str] = []
    for task in workflow.get_tasks():
        element = getattr(task.task_spec, "bpmn_id", None)
        if not element:
            continue
        if task.state == TaskState.COMPLETED:
            visited[element] += 1
        elif task.has_state(WAITING):
            current.append(element)
            if task.state == TaskState.ERROR:
                failed.append(element)
    return Trail(tuple(dict.fromkeys(current)), dict(visited), tuple(failed))
