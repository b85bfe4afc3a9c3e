"""Two ``careflow serve`` nodes and two schedulers on one PostgreSQL database, kill -9 at random moments.

Clients start instances and claim and complete tasks over HTTP through either node; timers come due and messages
are sent by the schedulers. In each round one node (its whole process group: granian and its worker) and one
scheduler are killed with SIGKILL and started again. Afterwards every completion a client was told about is stored
once, every timer fired once, every message was queued once and reached the channel, and every audit chain verifies.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import SystemClock
from engine.context import build_engine
from engine.db.models import AuditEvent
from engine.services import identity
from tests.support.care import add_customers, customer
from tests.support.cluster import Children, check_instances, check_timers_and_messages, child_settings, flow, settled
from tests.support.engine import deploy
from tests.support.serve import free_port, kill_serve, serve_env, start_serve

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("CAREFLOW_TEST_NODE_ROUNDS", "4"))
CLIENTS = 4
CUSTOMERS = 10


class Node:
    """One ``careflow serve --workers 1`` on a fixed port, killed with its workers and started again."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port, self.log = free_port(), log
        self.env = serve_env(database_url, CAREFLOW_SECRET_KEY="nodes-test-cookie-key")
        self.process: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = start_serve(self.port, self.env, self.log, "--workers", "1", timeout=90)

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, "the node ended by itself"
        kill_serve(self.process)


class Client(threading.Thread):
    """A clerk: starts an instance now and then, claims the next task of the queue and completes it, on whichever
    node answers; remembers each completion the server acknowledged."""

    def __init__(self, nodes: list[Node], token: str, seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.nodes, self.stop, self.rng = nodes, stop, random.Random(seed)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.acknowledged: list[str] = []
        self.starting = True
        self.errors: list[str] = []
        self.claimed: str | None = None

    def _call(self, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        node = self.rng.choice(self.nodes)
        try:
            return httpx.request(method, f"{node.base}{path}", headers=self.headers, timeout=10, **kwargs)
        except httpx.TransportError:
            return None  # a killed node: the request may or may not have committed; try again elsewhere

    def run(self) -> None:
        number = 0
        while not self.stop.is_set():
            if self.starting and self.rng.random() < 0.3:
                number += 1
                self._call("POST", "/api/v1/instances", json={
                    "process_key": "flow", "variables": {"customer_id": f"K{self.rng.randrange(CUSTOMERS):03d}"}})
            if self.claimed is None:
                answer = self._call("POST", "/api/v1/tasks/claim-next")
                if answer is not None and answer.status_code == 200:
                    self.claimed = answer.json()["id"]
                elif answer is not None and answer.status_code not in (204, 409):
                    self.errors.append(f"claim-next {answer.status_code}: {answer.text[:200]}")
            if self.claimed is not None:
                answer = self._call("POST", f"/api/v1/tasks/{self.claimed}/complete", json={"data": {}})
                if answer is not None and answer.status_code == 200:
                    self.acknowledged.append(self.claimed)
                    self.claimed = None
                elif answer is not None and answer.status_code in (404, 409):
                    self.claimed = None  # completed by the request whose answer the kill lost, or gone
                elif answer is not None:
                    self.errors.append(f"complete {answer.status_code}: {answer.text[:200]}")
            self.stop.wait(0.05)


def _open_tasks(db) -> int:
    from engine.db.models import HumanTask
    from engine.runtime.projection import OPEN_STATES

    with Session(db) as session:
        return session.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.status.in_(OPEN_STATES)))


@pytest.mark.postgres_only
@pytest.mark.slow
def test_two_nodes_and_two_schedulers_killed_at_random_lose_and_double_nothing(ctx, settings, db, is_postgres,
                                                                               tmp_path):
    if not is_postgres:
        pytest.skip("several nodes and schedulers share one PostgreSQL database; SQLite has one writer")
    ctx.clock.set(SystemClock().now())  # the nodes run on the real clock: tokens must be valid there
    deploy(ctx, ("flow.bpmn", flow()))
    add_customers(ctx, *[customer(f"K{i:03d}") for i in range(CUSTOMERS)])
    tokens = []
    for i in range(CLIENTS):
        identity.create_user(ctx, username=f"clerk{i}", roles=["staff"], groups=["workers"])
        tokens.append(identity.create_token(ctx, username=f"clerk{i}"))
    deliveries = str(tmp_path / "sms.log")
    nodes = [Node(settings.database.url, tmp_path / f"node{i}.log") for i in range(2)]
    for node in nodes:
        node.start()
    children = Children(child_settings(settings), deliveries)
    children.replace(workers=0, schedulers=2)
    stop = threading.Event()
    clients = [Client(nodes, token, seed, stop) for seed, token in enumerate(tokens)]
    rng = random.Random(20261207)
    began = time.monotonic()
    try:
        for client in clients:
            client.start()
        for _ in range(ROUNDS):
            stop.wait(rng.uniform(1.0, 3.0))  # work, then kill a node and a scheduler wherever they are
            victim = rng.choice(nodes)
            victim.kill()
            children.kill_scheduler(rng.randrange(2))
            children.replace(workers=0, schedulers=1)
            victim.start()
        for client in clients:  # no new instances: drain
            client.starting = False
        deadline = time.monotonic() + 120
        while (_open_tasks(db) or not settled(db)) and time.monotonic() < deadline:
            stop.wait(0.2)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=30)
        for node in nodes:
            if node.process is not None and node.process.poll() is None:
                node.kill()
        for proc in list(children.schedulers):
            children.kill(proc)
    elapsed = time.monotonic() - began

    assert not [e for client in clients for e in client.errors], [e for c in clients for e in c.errors][:5]
    assert _open_tasks(db) == 0 and settled(db), "work was left behind after the kills"
    acknowledged = [task for client in clients for task in client.acknowledged]
    fresh = build_engine(child_settings(settings), db=db)
    with Session(db) as session:
        instances, completions = check_instances(session, fresh)
        fired, sent, resent = check_timers_and_messages(session, deliveries)
        audited = Counter(event["task"] for event in session.scalars(
            select(AuditEvent.after).where(AuditEvent.action == "task.complete")))
    assert len(acknowledged) == len(set(acknowledged)), "a task was acknowledged twice"
    assert all(audited[task] == 1 for task in acknowledged), "an acknowledged completion was lost or stored twice"
    assert set(audited.values()) == {1} and completions >= len(acknowledged) >= 2 * ROUNDS
    print(f"\n{ROUNDS} rounds (a node and a scheduler killed in each) in {elapsed:.1f} s: {instances} instances, "
          f"{completions} completions ({len(acknowledged)} acknowledged), {fired} timers, {sent} messages "
          f"({resent} re-sent with their key)")

