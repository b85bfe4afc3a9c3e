"""A worker that starts instances and completes their tasks forever, until it is killed.

Run by tests/integration/test_crash.py: ``python -m tests.support.crash_worker``.
"""

from __future__ import annotations

import sys

from engine.config import Settings
from engine.context import build_engine
from engine.errors import ConflictError
from engine.services import identity, instances, tasks


def main() -> None:
    ctx = build_engine(Settings.from_env())
    worker = identity.get_actor(ctx, "worker")
    print("ready", flush=True)
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
