"""Who may call what: every caller × every /api/v1 endpoint, against a literal table of expected statuses.

The table is what the engine services enforce (engine/services/authz.py, each service's require_* call and
the task lifecycle in engine/runtime/lifecycle.py); a change of rules shows up here as a changed cell.
Every cell runs on its own fresh precondition (a new instance, task or dead letter), so cells do not interact.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from engine.db.outreach import OutboxMessage
from engine.services import collaboration, designer, identity, instances, sla, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks
from web import create_app
from web.api.openapi import api_rules, openapi_path, rule_methods

# alice: staff in service_team · carol: staff in branch_team · sam: supervisor (service_team, supervisors)
# dora: designer · root: admin · anon: no Authorization header · garbage: a made-up token · revoked: rex's revoked token
CALLERS = ("alice", "carol", "sam", "dora", "root", "anon", "garbage", "revoked")

# Tasks below belong to service_team. 2xx/404/409 = allowed (a domain answer), 403 = wrong role or group, 401 = who?
EXPECTED: dict[str, tuple[int, ...]] = {
    #                                            alice carol  sam  dora  root  anon  garbage revoked
    "GET /openapi.json":                         (200,  200,  200,  200,  200,  200,  200,  200),
    "POST /definitions":                         (403,  403,  403,  201,  201,  401,  401,  401),
    "POST /definitions?validate_only=1":         (403,  403,  403,  200,  200,  401,  401,  401),
    "GET /definitions":                          (200,  200,  200,  200,  200,  401,  401,  401),
    "GET /definitions/{key}":                    (200,  200,  200,  200,  200,  401,  401,  401),
    "POST /instances":                           (201,  201,  201,  201,  201,  401,  401,  401),
    "GET /instances/{instance_id}":              (200,  403,  200,  403,  200,  401,  401,  401),  # takes part / grant
    "POST /instances/{instance_id}/cancel":      (403,  403,  200,  403,  200,  401,  401,  401),
    "POST /instances/{instance_id}/retry":       (403,  403,  409,  403,  409,  401,  401,  401),  # running: not in error
    "GET /tasks?view=mine":                      (200,  200,  200,  200,  200,  401,  401,  401),
    "GET /tasks?view=queue":                     (200,  200,  200,  200,  200,  401,  401,  401),
    "GET /tasks?view=archive":                   (200,  200,  200,  200,  200,  401,  401,  401),
    "GET /tasks?view=all":                       (403,  403,  200,  403,  200,  401,  401,  401),
    "GET /tasks/{task_id}":                      (200,  403,  200,  403,  200,  401,  401,  401),
    "POST /tasks/{task_id}/claim":               (200,  403,  200,  403,  200,  401,  401,  401),
    "POST /tasks/{task_id}/unclaim":             (403,  403,  200,  403,  200,  401,  401,  401),  # claimed by bob
    "POST /tasks/{task_id}/assign":              (403,  403,  200,  403,  200,  401,  401,  401),
    "POST /tasks/{task_id}/complete":            (403,  403,  403,  403,  403,  401,  401,  401),  # claimed by bob
    "POST /tasks/{task_id}/complete as assignee": (200,  200,  200,  200,  200,  401,  401,  401),  # assigned to caller
    "PATCH /tasks/{task_id}":                    (403,  403,  200,  403,  200,  401,  401,  401),  # claimed by bob
    "POST /tasks/{task_id}/delegate":            (403,  403,  200,  403,  200,  401,  401,  401),  # claimed by bob
    "POST /tasks/{task_id}/resolve":             (403,  403,  403,  403,  403,  401,  401,  401),  # not delegated
    "POST /tasks/{task_id}/sla/pause":           (403,  403,  200,  403,  200,  401,  401,  401),  # claimed by bob
    "POST /tasks/{task_id}/sla/resume":          (403,  403,  200,  403,  200,  401,  401,  401),  # paused by bob
    "GET /tasks/{task_id}/comments":             (200,  403,  200,  403,  200,  401,  401,  401),
    "POST /tasks/{task_id}/comments":            (201,  403,  201,  403,  201,  401,  401,  401),
    "GET /tasks/{task_id}/attachments":          (200,  403,  200,  403,  200,  401,  401,  401),
    "POST /tasks/{task_id}/attachments":         (201,  403,  201,  403,  201,  401,  401,  401),
    "GET /attachments/{attachment_id}":          (200,  403,  200,  403,  200,  401,  401,  401),
    "POST /tasks/bulk":                          (403,  403,  200,  403,  200,  401,  401,  401),
    "POST /messages":                            (403,  403,  409,  403,  409,  401,  401,  401),  # grant; nobody waits
    "GET /outbox":                               (403,  403,  200,  403,  200,  401,  401,  401),
    "POST /outbox/{message_id}/retry":           (403,  403,  200,  403,  200,  401,  401,  401),
    # the process designer: designers (and admins) change and migrate, supervisors may look
    "GET /designer/drafts":                      (403,  403,  200,  200,  200,  401,  401,  401),
    "GET /designer/drafts/{kind}/{name}":        (403,  403,  200,  200,  200,  401,  401,  401),
    "PUT /designer/drafts/{kind}/{name}":        (403,  403,  403,  200,  200,  401,  401,  401),
    "DELETE /designer/drafts/{kind}/{name}":     (403,  403,  403,  200,  200,  401,  401,  401),
    "POST /designer/deploy":                     (403,  403,  403,  201,  201,  401,  401,  401),
    "POST /designer/import":                     (403,  403,  403,  201,  201,  401,  401,  401),
    "GET /designer/forms":                       (403,  403,  200,  200,  200,  401,  401,  401),
    "GET /designer/forms/{form_id}":             (403,  403,  200,  200,  200,  401,  401,  401),
    "GET /definitions/{key}/versions":           (200,  200,  200,  200,  200,  401,  401,  401),
    "GET /definitions/{key}/versions/{version}/xml": (200, 200, 200, 200, 200, 401,  401,  401),
    "GET /definitions/{key}/diff":               (200,  200,  200,  200,  200,  401,  401,  401),
    "GET /definitions/{key}/heatmap":            (403,  403,  200,  200,  200,  401,  401,  401),
    "POST /definitions/{key}/migrations/dry-run": (403, 403,  200,  200,  200,  401,  401,  401),
    "POST /definitions/{key}/migrations":        (403,  403,  403,  200,  200,  401,  401,  401),
    "GET /instances/{instance_id}/path":         (403,  403,  200,  200,  200,  401,  401,  401),
    "GET /customers":                            (200,  200,  200,  403,  200,  401,  401,  401),  # not designers
    "GET /customers/{customer_id}":              (403,  403,  200,  403,  200,  401,  401,  401),  # M1 is bob's
    "POST /complaints":                          (201,  201,  201,  403,  201,  401,  401,  401),  # staff entry
    "GET /complaints/{case_no}":                 (200,  200,  200,  403,  200,  401,  401,  401),
    # reports: staff see their own portfolio, supervisors everything; process analytics for designers and supervisors
    "GET /reports/dashboard":                    (200,  200,  200,  403,  200,  401,  401,  401),
    "GET /reports/processes/{key}":              (403,  403,  200,  200,  200,  401,  401,  401),
}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: dict[str, Any] | None = None
    form: dict[str, Any] | None = None  # multipart upload


@dataclass
class World:
    ctx: Any
    people: dict[str, Any]
    clock: Any

    def instance(self) -> str:
        return instances.start_instance(self.ctx, process_key="simple", actor=SYSTEM).id

    def open_task(self) -> str:
        [task] = open_tasks(self.ctx, self.instance())
        return task.id

    def task_claimed_by(self, username: str) -> str:
        task_id = self.open_task()
        if username in self.people:
            tasks.assign_task(self.ctx, task_id, actor=SYSTEM, assignee=username)
        return task_id

    def paused_task(self) -> str:
        task_id = self.task_claimed_by("bob")
        sla.pause_sla(self.ctx, task_id, actor=self.people["bob"], reason="waiting for documents")
        return task_id

    def attachment(self) -> int:
        view = collaboration.add_attachment(self.ctx, self.open_task(), actor=self.people["alice"], filename="a.txt",
                                            content=b"note")
        return view.id

    def draft(self) -> str:
        name = f"d_{uuid.uuid4().hex[:8]}"
        designer.save_draft(self.ctx, kind="process", name=name, content="<x/>", actor=SYSTEM)
        return name

    def dead_letter(self) -> int:
        now = self.clock.now()
        with self.ctx.sessions.begin() as session:
            row = OutboxMessage(idempotency_key=f"dead-{uuid.uuid4()}", channel="sms", purpose="care", template="t",
                                params={}, status="dead", status_reason="retries_exhausted", attempts=6,
                                next_attempt_at=now, created_at=now, finished_at=now)
            session.add(row)
            session.flush()
            return int(row.id)


def _deploy_body(caller: str) -> dict[str, Any]:
    return {"files": [{"filename": f"p_{caller}.bpmn", "content": b.simple_task_process(f"p_{caller}").decode()}]}


REQUESTS: dict[str, Callable[[World, str], Call]] = {
    "GET /openapi.json": lambda w, c: Call("GET", "/openapi.json"),
    "POST /definitions": lambda w, c: Call("POST", "/definitions", _deploy_body(c)),
    "POST /definitions?validate_only=1": lambda w, c: Call("POST", "/definitions?validate_only=1", _deploy_body(c)),
    "GET /definitions": lambda w, c: Call("GET", "/definitions"),
    "GET /definitions/{key}": lambda w, c: Call("GET", "/definitions/simple"),
    "POST /instances": lambda w, c: Call("POST", "/instances", {"process_key": "simple", "business_key": f"B-{c}"}),
    "GET /instances/{instance_id}": lambda w, c: Call("GET", f"/instances/{w.instance()}"),
    "POST /instances/{instance_id}/cancel": lambda w, c: Call("POST", f"/instances/{w.instance()}/cancel", {"reason": "x"}),
    "POST /instances/{instance_id}/retry": lambda w, c: Call("POST", f"/instances/{w.instance()}/retry", {}),
    "GET /tasks?view=mine": lambda w, c: Call("GET", "/tasks?view=mine"),
    "GET /tasks?view=queue": lambda w, c: Call("GET", "/tasks?view=queue"),
    "GET /tasks?view=archive": lambda w, c: Call("GET", "/tasks?view=archive"),
    "GET /tasks?view=all": lambda w, c: Call("GET", "/tasks?view=all"),
    "GET /tasks/{task_id}": lambda w, c: Call("GET", f"/tasks/{w.open_task()}"),
    "POST /tasks/{task_id}/claim": lambda w, c: Call("POST", f"/tasks/{w.open_task()}/claim"),
    "POST /tasks/{task_id}/unclaim": lambda w, c: Call("POST", f"/tasks/{w.task_claimed_by('bob')}/unclaim"),
    "POST /tasks/{task_id}/assign": lambda w, c: Call("POST", f"/tasks/{w.open_task()}/assign", {"user": "bob"}),
    "POST /tasks/{task_id}/complete": lambda w, c: Call("POST", f"/tasks/{w.task_claimed_by('bob')}/complete", {"data": {}}),
    "POST /tasks/{task_id}/complete as assignee": lambda w, c: Call(
        "POST", f"/tasks/{w.task_claimed_by(c)}/complete", {"data": {}}),
    "PATCH /tasks/{task_id}": lambda w, c: Call("PATCH", f"/tasks/{w.task_claimed_by('bob')}", {"priority": 80}),
    "POST /tasks/{task_id}/delegate": lambda w, c: Call("POST", f"/tasks/{w.task_claimed_by('bob')}/delegate",
                                                        {"user": "rex"}),
    "POST /tasks/{task_id}/resolve": lambda w, c: Call("POST", f"/tasks/{w.task_claimed_by('bob')}/resolve"),
    "POST /tasks/{task_id}/sla/pause": lambda w, c: Call("POST", f"/tasks/{w.task_claimed_by('bob')}/sla/pause",
                                                         {"reason": "waiting"}),
    "POST /tasks/{task_id}/sla/resume": lambda w, c: Call("POST", f"/tasks/{w.paused_task()}/sla/resume"),
    "GET /tasks/{task_id}/comments": lambda w, c: Call("GET", f"/tasks/{w.open_task()}/comments"),
    "POST /tasks/{task_id}/comments": lambda w, c: Call("POST", f"/tasks/{w.open_task()}/comments", {"text": "备注"}),
    "GET /tasks/{task_id}/attachments": lambda w, c: Call("GET", f"/tasks/{w.open_task()}/attachments"),
    "POST /tasks/{task_id}/attachments": lambda w, c: Call("POST", f"/tasks/{w.open_task()}/attachments",
                                                           form={"file": (io.BytesIO(b"%PDF-1.4 x"), "x.pdf")}),
    "GET /attachments/{attachment_id}": lambda w, c: Call("GET", f"/attachments/{w.attachment()}"),
    "POST /tasks/bulk": lambda w, c: Call("POST", "/tasks/bulk", {"action": "claim", "task_ids": [w.open_task()]}),
    "POST /messages": lambda w, c: Call("POST", "/messages", {"name": "nobody_waits", "message_id": f"m-{c}"}),
    "GET /outbox": lambda w, c: Call("GET", "/outbox?status=dead"),
    "POST /outbox/{message_id}/retry": lambda w, c: Call("POST", f"/outbox/{w.dead_letter()}/retry"),
    "GET /designer/drafts": lambda w, c: Call("GET", "/designer/drafts"),
    "GET /designer/drafts/{kind}/{name}": lambda w, c: Call("GET", f"/designer/drafts/process/{w.draft()}"),
    "PUT /designer/drafts/{kind}/{name}": lambda w, c: Call("PUT", f"/designer/drafts/process/d_{c}",
                                                            {"content": "<x/>"}),
    "DELETE /designer/drafts/{kind}/{name}": lambda w, c: Call("DELETE", f"/designer/drafts/process/{w.draft()}"),
    "POST /designer/deploy": lambda w, c: Call("POST", "/designer/deploy",
                                               {"xml": b.simple_task_process(f"m_{c}").decode()}),
    "POST /designer/import": lambda w, c: Call("POST", "/designer/import", {
        "filename": f"i_{c}.bpmn", "content": b.simple_task_process(f"i_{c}").decode()}),
    "GET /designer/forms": lambda w, c: Call("GET", "/designer/forms"),
    "GET /designer/forms/{form_id}": lambda w, c: Call("GET", "/designer/forms/answer"),
    "GET /definitions/{key}/versions": lambda w, c: Call("GET", "/definitions/simple/versions"),
    "GET /definitions/{key}/versions/{version}/xml": lambda w, c: Call("GET", "/definitions/simple/versions/1/xml"),
    "GET /definitions/{key}/diff": lambda w, c: Call("GET", "/definitions/simple/diff?from=1&to=1"),
    "GET /definitions/{key}/heatmap": lambda w, c: Call("GET", "/definitions/simple/heatmap"),
    "POST /definitions/{key}/migrations/dry-run": lambda w, c: Call("POST", "/definitions/simple/migrations/dry-run",
                                                                    {}),
    "POST /definitions/{key}/migrations": lambda w, c: Call("POST", "/definitions/simple/migrations", {}),
    "GET /instances/{instance_id}/path": lambda w, c: Call("GET", f"/instances/{w.instance()}/path"),
    "GET /customers": lambda w, c: Call("GET", "/customers?q=M1"),
    "GET /customers/{customer_id}": lambda w, c: Call("GET", f"/customers/{_customer(w)}"),
    "POST /complaints": lambda w, c: Call("POST", "/complaints", _complaint_body(w, c)),
    "GET /complaints/{case_no}": lambda w, c: Call("GET", f"/complaints/{_complaint(w)}"),
    "GET /reports/dashboard": lambda w, c: Call("GET", "/reports/dashboard?start=2025-02-01&end=2025-02-28"),
    "GET /reports/processes/{key}": lambda w, c: Call("GET", "/reports/processes/simple"),
}


def _complaint_body(w: World, caller: str) -> dict[str, Any]:
    """A phone complaint as staff enter it (the complaint process deployed once per test)."""
    if not w.__dict__.get("complaints_deployed"):
        from tests.support.portal import deploy_complaints

        deploy_complaints(w.ctx)
        w.__dict__["complaints_deployed"] = True
    return {"channel": "phone", "business_type": "bank_cards", "cause": "other", "summary": f"matrix {caller}",
            "complainant_name": "王建国"}


def _complaint(w: World) -> str:
    from engine.services import complaints

    body = _complaint_body(w, "system")
    view, _ = complaints.submit_complaint(w.ctx, complaints.ComplaintInput(**body), actor=SYSTEM)
    return view.case_no


def _customer(w: World) -> str:
    """A customer to read (added once per test)."""
    from engine.db.outreach import Customer
    from tests.support.care import add_customers, customer

    with w.ctx.sessions() as session:
        if session.get(Customer, "M1") is None:
            add_customers(w.ctx, customer("M1", manager="bob"))
    return "M1"


@pytest.fixture
def client(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx).test_client()


@pytest.fixture
def headers(ctx, people) -> dict[str, dict[str, str]]:
    identity.create_user(ctx, username="rex", roles=["staff"], groups=["service_team"], password="correct horse 1")
    revoked = identity.create_token(ctx, username="rex")
    identity.revoke_tokens(ctx, "rex", actor=people["root"])
    result = {name: {"Authorization": f"Bearer {identity.create_token(ctx, username=name)}"} for name in people}
    result["anon"] = {}
    result["garbage"] = {"Authorization": "Bearer cf_" + "x" * 43}
    result["revoked"] = {"Authorization": f"Bearer {revoked}"}
    return result


@pytest.fixture
def world(ctx, people, clock) -> World:
    deploy(ctx, ("simple.bpmn", b.simple_task_process("simple")))  # one user task for service_team
    deploy(ctx, ("branch.bpmn", b.simple_task_process("branch", candidateGroups="branch_team")))
    designer.save_draft(ctx, kind="form", name="answer", content='{"id": "answer", "components": []}', actor=SYSTEM)
    return World(ctx, people, clock)


def test_the_table_covers_every_endpoint_and_every_caller(client):
    rules = {(m.upper(), openapi_path(r).removeprefix("/api/v1")) for r in api_rules(client.application)
             for m in rule_methods(r)}
    covered = {(k.split()[0], k.split()[1].split("?")[0]) for k in EXPECTED}
    assert rules == covered
    assert set(EXPECTED) == set(REQUESTS)
    assert all(len(row) == len(CALLERS) for row in EXPECTED.values())


def test_authorization_matrix(client, headers, world):
    actual: dict[str, tuple[int, ...]] = {}
    for name, make in REQUESTS.items():
        row = []
        for caller in CALLERS:
            call = make(world, caller)
            if call.form is not None:
                response = client.open("/api/v1" + call.path, method=call.method, data=call.form,
                                       content_type="multipart/form-data", headers=headers[caller])
            else:
                response = client.open("/api/v1" + call.path, method=call.method, json=call.json,
                                       headers=headers[caller])
            if response.status_code in (401, 403):  # refusals use the error contract
                code = "unauthenticated" if response.status_code == 401 else "permission_denied"
                assert response.json["error"]["code"] == code, (name, caller, response.json)
            row.append(response.status_code)
        actual[name] = tuple(row)
    assert actual == EXPECTED


# --- staff see and act only on their groups' tasks -------------------------------------------------------------


def _start(ctx, key: str) -> str:
    view = instances.start_instance(ctx, process_key=key, actor=SYSTEM)
    [task] = open_tasks(ctx, view.id)
    return task.id


def test_staff_queues_hold_only_their_groups_tasks(client, headers, world, ctx):
    service = {_start(ctx, "simple") for _ in range(3)}
    branch = {_start(ctx, "branch") for _ in range(2)}

    def listed(caller: str, query: str) -> set[str]:
        response = client.get(f"/api/v1/tasks?{query}", headers=headers[caller])
        assert response.status_code == 200
        return {t["id"] for t in response.json["items"]}

    assert listed("carol", "view=queue") == branch
    assert listed("carol", "view=queue&process=simple") == set()  # a filter does not widen the view
    assert listed("carol", "view=queue&q=review") == branch
    assert listed("alice", "view=queue") == service
    assert listed("sam", "view=queue") == service  # supervisors' queue: their groups too
    assert listed("sam", "view=all") == service | branch  # ... but they see every open task
    assert listed("dora", "view=queue") == set()


def test_staff_cannot_read_claim_or_complete_another_groups_task(client, headers, world, ctx, people):
    task_id = _start(ctx, "simple")
    read = client.get(f"/api/v1/tasks/{task_id}", headers=headers["carol"])
    assert read.status_code == 403 and read.json["error"]["code"] == "permission_denied"
    claim = client.post(f"/api/v1/tasks/{task_id}/claim", headers=headers["carol"])
    assert claim.status_code == 403
    # still open, still claimable by its group
    assert tasks.get_task(ctx, task_id, actor=people["alice"]).status == "open"
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=headers["alice"]).status_code == 200
    complete = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}}, headers=headers["carol"])
    assert complete.status_code == 403 and complete.json["error"]["code"] == "permission_denied"
    unclaim = client.post(f"/api/v1/tasks/{task_id}/unclaim", headers=headers["carol"])
    assert unclaim.status_code == 403
    task = tasks.get_task(ctx, task_id, actor=people["alice"])
    assert (task.status, task.assignee) == ("claimed", "alice")
    assert client.get("/api/v1/tasks?view=mine", headers=headers["carol"]).json["items"] == []
    done = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}}, headers=headers["alice"])
    assert done.status_code == 200 and done.json["status"] == "completed"
    # carol does not see it in her archive either; alice does
    assert client.get("/api/v1/tasks?view=archive", headers=headers["carol"]).json["items"] == []
    assert [t["id"] for t in client.get("/api/v1/tasks?view=archive", headers=headers["alice"]).json["items"]] == [task_id]


def test_an_instance_shows_only_the_open_tasks_the_caller_may_see(client, headers, world, ctx):
    task_id = _start(ctx, "simple")  # service_team's
    instance_id = tasks.get_task(ctx, task_id, actor=SYSTEM).instance_id
    as_carol = client.get(f"/api/v1/instances/{instance_id}", headers=headers["carol"])
    as_alice = client.get(f"/api/v1/instances/{instance_id}", headers=headers["alice"]).json
    assert as_carol.status_code == 403  # she takes part in none of its tasks and holds no read grant
    assert [t["id"] for t in as_alice["open_tasks"]] == [task_id]
    branch_task = _start(ctx, "branch")  # branch_team's: a supervisor reads the instance, sees the task too
    branch_instance = tasks.get_task(ctx, branch_task, actor=SYSTEM).instance_id
    as_sam = client.get(f"/api/v1/instances/{branch_instance}", headers=headers["sam"]).json
    assert [t["id"] for t in as_sam["open_tasks"]] == [branch_task]
