"""A worker that starts instances and completes their tasks forever, until it is killed; and a scheduler process.

tests/integration/test_crash.py starts them (``work_in_fork``, ``schedule_in_fork``) from a forkserver that has
imported this module once, so each of the kills costs no interpreter start-up, and no child inherits the test
process's threads or their locks; ``python -m tests.support.crash_worker`` runs a worker on its own.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

# Imported here so that the forkserver, which preloads this module, has them loaded once for every child.
from apscheduler.schedulers.background import BackgroundScheduler

from engine.config import Settings
from engine.context import build_engine
from engine.errors import ConflictError
from engine.outbox.ports import DeliveryReceipt
from engine.scheduler import SchedulerRunner
from engine.services import identity, instances, tasks


def main() -> None:
    work(Settings.from_env(), lambda: print("ready", flush=True))


def work_in_fork(settings: Settings, ready: Any, process_key: str = "crashy", customers: int = 0,
                 pace: float = 0.0) -> None:
    """Entry point for a multiprocessing child: ``ready`` is an Event set once the worker can work."""
    work(settings, ready.set, process_key, customers, pace)


def work(settings: Settings, ready: Callable[[], None], process_key: str = "crashy", customers: int = 0,
         pace: float = 0.0) -> None:
    """Start and complete forever with a fresh engine (its own connections), after calling ``ready``.

    One instance is started before ``ready``: it parses the process and opens the connections, so that a kill
    window is spent working, not warming up."""
    ctx = build_engine(settings)
    worker = identity.get_actor(ctx, "worker")

    def start(n: int) -> None:
        customer = {"customer_id": f"K{n % customers:03d}"} if customers else {}
        instances.start_instance(ctx, process_key=process_key, actor=worker, variables={"n": n, **customer})

    start(0)
    ready()
    n = 0
    between = threading.Event()  # never set: waits ``pace`` seconds between rounds (load pacing, not time logic)
    while True:
        if pace:
            between.wait(pace)
        n += 1
        start(n)
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


class FileChannel:
    """An SMS provider that appends each accepted idempotency key to a file (O_APPEND, one line, flushed) before it
    answers: what a killed dispatcher had sent survives it. Like a real provider, it keeps the first of two sends
    with one key, so a re-send after a kill is counted, not delivered twice."""

    name = "sms"

    def __init__(self, path: str) -> None:
        self.path = path

    def send(self, message: Any) -> Any:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{message.idempotency_key}\n".encode())
        finally:
            os.close(fd)
        return DeliveryReceipt(provider_id=f"file:{message.idempotency_key}")


def schedule_in_fork(settings: Settings, ready: Any, deliveries: str) -> None:
    """A ``careflow scheduler`` process (SchedulerRunner, real clock) with the file channel, until it is killed."""
    logging.getLogger("engine.services.scheduler_health").setLevel(logging.CRITICAL)  # the test checks it itself
    ctx = build_engine(settings)
    ctx.register_channel(FileChannel(deliveries))
    runner = SchedulerRunner(ctx, BackgroundScheduler(timezone="UTC"), max_idle=0.5, care_scans=False)
    runner.start()
    runner.supervise()  # its heartbeat rows exist before it says it is ready
    ready.set()
    runner.serve_forever()
