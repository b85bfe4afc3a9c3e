"""A worker that starts instances and completes their tasks forever, until it is killed.

tests/integration/test_crash.py starts it (``work_in_fork``) from a forkserver that has imported this module
once, so each of the 50 kills costs no interpreter start-up, and no child inherits the test process's
threads or their locks; ``python -m tests.support.crash_worker`` runs it on its own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from engine.config import Settings
from engine.context import build_engine
from engine.errors import ConflictError
from engine.services import identity, instances, tasks


def main() -> None:
    work(Settings.from_env(), lambda: print("ready", flush=True))


def work_in_fork(settings: Settings, ready: Any) -> None:
    """Entry point for a multiprocessing child: ``ready`` is an Event set once the worker can work."""
    work(settings, ready.set)


def work(settings: Settings, ready: Callable[[], None]) -> None:
    """Start and complete forever with a fresh engine (its own connections), after calling ``ready``.

    One instance is started before ``ready``: it parses the process and opens the connections, so that a kill
    window is spent working, not warming up."""
    ctx = build_engine(settings)
    worker = identity.get_actor(ctx, "worker")
    instances.start_instance(ctx, process_key="crashy", actor=worker, variables={"n": 0})
    ready()
    n = 0
    while True:
        n += 1
        instances.start_instance(ctx, process_key="crashy", actor=worker, variables={"n": n})
        for view in ("mine", "queue"):
            for task in tasks.list_tasks(ctx, actor=worker, view=view, limit=20).items:
                try:
                    if task.status == "open":
                        tasks.claim_task(ctx, task.id, actor=worker)
                    tasks.complete_task(ctx, task.id, actor=worker, data={"done": n})
                except ConflictError:
                    continue


if __name__ == "__main__":
    sys.exit(main())
