"""Fifty clerks claim the same task over real HTTP at once: exactly one wins, the others get 409.

The app runs in werkzeug's threaded WSGI server (``make_server(..., threaded=True)``) in a background
thread against the test context, so each request has its own server thread, database connection and
transaction, as under gunicorn's threaded workers; gunicorn itself is too slow to start per test.
Each client opens its keep-alive connection (GET /healthz) before the barrier, so the 50 claims hit
the server together instead of trickling in through the TCP handshake.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from engine.services import identity, instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks
from tests.support.live import serve

CLERKS = 50


@pytest.fixture
def server(ctx) -> Iterator[str]:
    with serve(ctx) as url:
        yield url


@pytest.mark.postgres_only
@pytest.mark.slow
def test_fifty_http_claims_exactly_one_wins(ctx, server, is_postgres):
    if not is_postgres:
        pytest.skip("row locks under real concurrent connections are what this shows; SQLite serializes writers anyway")
    names = [f"racer{i:02d}" for i in range(CLERKS)]
    for name in names:
        identity.create_user(ctx, username=name, roles=["staff"], groups=["service_team"])
    tokens = {name: identity.create_token(ctx, username=name) for name in names}
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    started = instances.start_instance(ctx, process_key="simple", actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)

    barrier = threading.Barrier(CLERKS)
    results: dict[str, httpx.Response] = {}
    errors: list[BaseException] = []

    def clerk(name: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[name]}"}
        try:
            with httpx.Client(base_url=server, headers=headers, timeout=60) as client:
                assert client.get("/healthz").status_code == 200  # the connection is open and kept alive
                barrier.wait(timeout=60)
                results[name] = client.post(f"/api/v1/tasks/{task.id}/claim")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=clerk, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(results) == CLERKS

    statuses = Counter(r.status_code for r in results.values())
    assert statuses == {200: 1, 409: CLERKS - 1}, {n: (r.status_code, r.text[:200]) for n, r in results.items()}
    [winner] = [name for name, r in results.items() if r.status_code == 200]
    assert results[winner].json()["assignee"] == winner and results[winner].json()["status"] == "claimed"
    losers = [r.json()["error"]["code"] for r in results.values() if r.status_code == 409]
    assert set(losers) == {"invalid_transition"}, Counter(losers)
    [after] = open_tasks(ctx, started.id)
    assert (after.assignee, after.status) == (winner, "claimed")
    history = [h.action for h in instances.get_instance(ctx, started.id, actor=SYSTEM).history]
    assert history.count("task.claim") == 1
