"""Races on one task and one instance, with real transactions on the test database."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from engine.errors import ConflictError
from engine.services import identity, instances, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks


def _race(n: int, fn) -> list[object]:
    barrier = threading.Barrier(n)

    def run(i: int) -> object:
        barrier.wait()
        try:
            return fn(i)
        except ConflictError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_twenty_parallel_claims_exactly_one_wins(ctx):
    for i in range(20):
        identity.create_user(ctx, username=f"clerk{i}", roles=["staff"], groups=["service_team"])
    clerks = [identity.get_actor(ctx, f"clerk{i}") for i in range(20)]
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    started = instances.start_instance(ctx, process_key="simple", actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)
    results = _race(20, lambda i: tasks.claim_task(ctx, task.id, actor=clerks[i]))
    winners = [r for r in results if not isinstance(r, ConflictError)]
    assert len(winners) == 1
    assert all(isinstance(r, ConflictError) for r in results if r is not winners[0])
    [after] = open_tasks(ctx, started.id)
    assert after.assignee == winners[0].assignee and after.status == "claimed"


def test_two_completions_of_the_same_task_one_wins(ctx, people):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("one", candidateGroups="service_team"),
                                   b.user_task("two", candidateGroups="service_team"))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    results = _race(2, lambda i: tasks.complete_task(ctx, task.id, actor=people["alice"], data={"n": i}))
    assert sum(not isinstance(r, ConflictError) for r in results) == 1
    [two] = open_tasks(ctx, started.id)
    assert two.task_name == "two"
    history = [h.action for h in instances.get_instance(ctx, started.id, actor=SYSTEM).history]
    assert history.count("task.complete") == 1


def test_parallel_completions_of_parallel_branches_are_both_kept(ctx, people):
    xml = b.definitions(
        "par",
        [b.start(), '<bpmn:parallelGateway id="fork"/>', b.user_task("a", candidateGroups="service_team"),
         b.user_task("b", candidateGroups="service_team"), '<bpmn:parallelGateway id="join"/>',
         b.user_task("after", candidateGroups="service_team"), b.end()],
        [b.flow("start", "fork"), b.flow("fork", "a"), b.flow("fork", "b"), b.flow("a", "join"),
         b.flow("b", "join"), b.flow("join", "after"), b.flow("after", "end")],
    )
    deploy(ctx, ("par.bpmn", xml))
    started = instances.start_instance(ctx, process_key="par", actor=SYSTEM)
    branch = {t.task_name: t for t in open_tasks(ctx, started.id)}
    tasks.claim_task(ctx, branch["a"].id, actor=people["alice"])
    tasks.claim_task(ctx, branch["b"].id, actor=people["bob"])
    who = [("a", people["alice"], {"from_a": 1}), ("b", people["bob"], {"from_b": 2})]
    results = _race(2, lambda i: tasks.complete_task(ctx, branch[who[i][0]].id, actor=who[i][1], data=who[i][2]))
    assert not any(isinstance(r, ConflictError) for r in results)  # serialized by the row lock, none lost
    [after] = open_tasks(ctx, started.id)
    data = tasks.get_task(ctx, after.id, actor=people["alice"]).data
    assert after.task_name == "after" and data["from_a"] == 1 and data["from_b"] == 2
