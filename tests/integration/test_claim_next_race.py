"""Claim next under concurrency: people asking at the same moment never get the same task."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from engine.services import identity, instances, worklist
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy


def test_parallel_claim_next_calls_never_get_the_same_task(ctx):
    clerks = []
    for i in range(6):
        identity.create_user(ctx, username=f"clerk{i}", roles=["staff"], groups=["service_team"])
        clerks.append(identity.get_actor(ctx, f"clerk{i}"))
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    for _ in range(4):
        instances.start_instance(ctx, process_key="simple", actor=SYSTEM)
    barrier = threading.Barrier(len(clerks))

    def run(i: int):
        barrier.wait()
        return worklist.claim_next(ctx, actor=clerks[i])

    with ThreadPoolExecutor(max_workers=len(clerks)) as pool:
        got = list(pool.map(run, range(len(clerks))))
    taken = [t for t in got if t is not None]
    assert len(taken) == 4  # every task went to someone (the two left over found nothing)
    assert len({t.id for t in taken}) == 4  # and none to two people
    assert len({t.assignee for t in taken}) == 4
