"""Who may call what: every caller × every /api/v1 endpoint, against a literal table of expected statuses.

The table is what the engine services enforce (engine/services/authz.py, each service's require_* call and
the task lifecycle in engine/runtime/lifecycle.py); a change of rules shows up here as a changed cell.
Every cell runs on its own fresh precondition (a new instance, task or dead letter), so cells do not interact.
"""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from engine.outbox.models import OutboxMessage
from engine.services import collaboration, designer, grants, identity, instances, sla, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.care import RecordingChannel, add_customers, customer
from tests.support.engine import deploy, open_tasks
from tests.support.portal import csrf, portal_login
from tests.support.web import login
from web import create_app
from web.complaints.api import signature
from web.openapi import api_rules, openapi_path, rule_methods

# alice: staff in service_team · carol: staff in branch_team · sam: supervisor (service_team, supervisors)
# dora: designer · vera: compliance · gina: staff in no group, with grants of her own (read process `simple`,
# correlate message `nobody_waits`, read customers of branch 东城支行) · root: admin
# intake: the WeChat channel, signing each request with its secret · customer: C1 signed in to the portal
# anon: no Authorization header · garbage: a made-up token · revoked: rex's revoked token
CALLERS = ("alice", "carol", "sam", "dora", "vera", "gina", "root", "intake", "customer", "anon", "garbage", "revoked")
PEOPLE = ("alice", "carol", "sam", "dora", "vera", "gina", "root")
GINA_GRANTS = (("process", "simple", "read"), ("message", "nobody_waits", "correlate"), ("customer", "branch:东城支行", "read"))

# Tasks below belong to service_team. 2xx/404/409 = allowed (a domain answer), 403 = wrong role, group or grant,
# 401 = who? Intake clients and portal customers have no business in the staff API: 401, but for filing a complaint.
EXPECTED: dict[str, tuple[int, ...]] = {
    #                                            alice carol  sam  dora  vera  gina  root intake cust  anon garbage revoked
    "GET /openapi.json":                         (200,  200,  200,  200,  200,  200,  200,  200,  200,  200,  200,  200),
    "POST /definitions":                         (403,  403,  403,  201,  403,  403,  201,  401,  401,  401,  401,  401),
    "POST /definitions?validate_only=1":         (403,  403,  403,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "GET /definitions":                          (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "GET /definitions/{key}":                    (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "POST /instances":                           (201,  201,  201,  201,  403,  201,  201,  401,  401,  401,  401,  401),
    "GET /instances/{instance_id}":              (200,  403,  200,  403,  200,  200,  200,  401,  401,  401,  401,  401),
    "POST /instances/{instance_id}/cancel":      (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /instances/{instance_id}/retry":       (403,  403,  409,  403,  403,  403,  409,  401,  401,  401,  401,  401),
    "GET /tasks?view=mine":                      (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "GET /tasks?view=queue":                     (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "GET /tasks?view=archive":                   (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "GET /tasks?view=all":                       (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "GET /tasks/{task_id}":                      (200,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/claim":               (200,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/unclaim":             (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/assign":              (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/complete":            (403,  403,  403,  403,  403,  403,  403,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/complete as assignee": (200, 200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "PATCH /tasks/{task_id}":                    (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/delegate":            (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/resolve":             (403,  403,  403,  403,  403,  403,  403,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/sla/pause":           (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/sla/resume":          (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "GET /tasks/{task_id}/comments":             (200,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/comments":            (201,  403,  201,  403,  403,  403,  201,  401,  401,  401,  401,  401),
    "GET /tasks/{task_id}/attachments":          (200,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/{task_id}/attachments":         (201,  403,  201,  403,  403,  403,  201,  401,  401,  401,  401,  401),
    "GET /attachments/{attachment_id}":          (200,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/bulk":                          (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /tasks/claim-next":                    (200,  204,  200,  204,  204,  204,  204,  401,  401,  401,  401,  401),
    "GET /notifications":                        (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "POST /notifications/read":                  (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "POST /messages":                            (403,  403,  409,  403,  403,  409,  409,  401,  401,  401,  401,  401),
    "GET /outbox":                               (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /outbox/{message_id}/retry":           (403,  403,  200,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    # the process designer: designers (and admins) change and migrate, supervisors may look
    "GET /designer/drafts":                      (403,  403,  200,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "GET /designer/drafts/{kind}/{name}":        (403,  403,  200,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "PUT /designer/drafts/{kind}/{name}":        (403,  403,  403,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "DELETE /designer/drafts/{kind}/{name}":     (403,  403,  403,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /designer/deploy":                     (403,  403,  403,  201,  403,  403,  201,  401,  401,  401,  401,  401),
    "POST /designer/import":                     (403,  403,  403,  201,  403,  403,  201,  401,  401,  401,  401,  401),
    "POST /designer/deploy/preview":             (403,  403,  403,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /designer/trial-run":                  (403,  403,  403,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "GET /designer/handlers":                    (403,  403,  200,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /definitions/{key}/versions/{version}/suspend": (403, 403, 403, 200, 403, 403, 200, 401, 401, 401, 401, 401),
    "POST /definitions/{key}/versions/{version}/retire": (403, 403, 403, 200, 403, 403, 200, 401, 401, 401, 401, 401),
    "POST /definitions/{key}/versions/{version}/resume": (403, 403, 403, 200, 403, 403, 200, 401, 401, 401, 401, 401),
    "GET /designer/forms":                       (403,  403,  200,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "GET /designer/forms/{form_id}":             (403,  403,  200,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "GET /definitions/{key}/versions":           (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "GET /definitions/{key}/versions/{version}/xml": (200, 200, 200, 200, 200, 200,  200,  401,  401,  401,  401,  401),
    "GET /definitions/{key}/diff":               (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "GET /definitions/{key}/heatmap":            (403,  403,  200,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /definitions/{key}/migrations/dry-run": (403, 403,  200,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /definitions/{key}/migrations":        (403,  403,  403,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    "GET /instances/{instance_id}/path":         (403,  403,  200,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    # customers: within one's customer grant (M1 is bob's, in branch 东城支行); compliance reads all, designers none
    "GET /customers":                            (200,  200,  200,  403,  200,  200,  200,  401,  401,  401,  401,  401),
    "GET /customers/{customer_id}":              (403,  403,  200,  403,  200,  200,  200,  401,  401,  401,  401,  401),
    # global search: every staff role may search; what each finds is filtered (tests/unit/test_search.py)
    "GET /search":                               (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "POST /complaints":                          (201,  201,  201,  403,  403,  201,  201,  201,  401,  401,  401,  401),
    "GET /complaints/{case_no}":                 (200,  200,  200,  403,  200,  200,  200,  401,  401,  401,  401,  401),
    "POST /complaints/{case_no}/acts":           (200,  200,  200,  403,  403,  200,  200,  401,  401,  401,  401,  401),
    # reports: staff see their own portfolio, supervisors everything; process analytics for designers and supervisors
    "GET /reports/dashboard":                    (200,  200,  200,  403,  403,  200,  200,  401,  401,  401,  401,  401),
    "GET /reports/processes/{key}":              (403,  403,  200,  200,  403,  403,  200,  401,  401,  401,  401,  401),
    # grants and maker-checker: the approval is ada's (a second administrator) asking for a grant
    "GET /grants":                               (403,  403,  403,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "POST /grants":                              (403,  403,  403,  403,  403,  403,  202,  401,  401,  401,  401,  401),
    "DELETE /grants/{grant_id}":                 (403,  403,  403,  403,  403,  403,  200,  401,  401,  401,  401,  401),
    "GET /approvals":                            (200,  200,  200,  200,  200,  200,  200,  401,  401,  401,  401,  401),
    "GET /approvals/{approval_id}":              (404,  404,  404,  404,  404,  404,  200,  401,  401,  401,  401,  401),
    "POST /approvals/{approval_id}/approve":     (404,  404,  404,  404,  404,  404,  200,  401,  401,  401,  401,  401),
    "POST /approvals/{approval_id}/reject":      (404,  404,  404,  404,  404,  404,  200,  401,  401,  401,  401,  401),
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

    def saved_view(self) -> int:
        from engine.services import saved_views

        return saved_views.save_view(self.ctx, actor=self.people["sam"], name=f"view-{uuid.uuid4()}",
                                     query={"view": "queue"}, shared_group="service_team").id

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

    def fresh_process(self) -> str:
        """A process of its own, so that suspending or retiring it changes nothing for the other cells."""
        key = f"v_{uuid.uuid4().hex[:8]}"
        deploy(self.ctx, (f"{key}.bpmn", b.simple_task_process(key)))
        return key

    def grant(self) -> int:
        """A fresh grant, to be revoked."""
        spec = grants.parse(f"user:g{uuid.uuid4().hex[:8]}", "process", "simple", "read")
        grants.add_grant(self.ctx, spec, by="test", approved_by="test")
        return max(g.id for g in grants.list_grants(self.ctx, actor=SYSTEM))

    def approval(self) -> int:
        """ada (a second administrator) asks for a grant: an administrator other than her may decide it."""
        spec = grants.parse("user:carol", "customer", f"branch:{uuid.uuid4().hex[:6]}", "read")
        return grants.request_grant(self.ctx, spec, actor=self.people["ada"]).id

    def import_run(self) -> int:
        from engine.customers import imports as customer_import

        return customer_import.start_import(self.ctx, "c.json", "json", b"[]", actor=self.people["sam"]).id

    def data_request(self, customer_id: str | None = None, *, answered: bool = False) -> int:
        """An access request: of ``customer_id`` (answered at once, so that the next one may be filed), else of a
        fresh customer."""
        from engine.dsr import service as dsr

        if customer_id is None:
            customer_id = self.fresh_customer()
        view = dsr.record_request(self.ctx, customer_id, "access", "branch", actor=SYSTEM)
        if answered:
            dsr.answer_access(self.ctx, view.id, actor=SYSTEM)
        return view.id

    def fresh_customer(self) -> str:
        customer_id = f"D{uuid.uuid4().hex[:8]}"
        add_customers(self.ctx, customer(customer_id))
        return customer_id

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
    "POST /tasks/claim-next": lambda w, c: (w.open_task(), Call("POST", "/tasks/claim-next"))[1],
    "GET /notifications": lambda w, c: Call("GET", "/notifications"),
    "POST /notifications/read": lambda w, c: Call("POST", "/notifications/read", {}),
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
    "POST /designer/deploy/preview": lambda w, c: Call("POST", "/designer/deploy/preview",
                                                       {"xml": b.simple_task_process(f"m_{c}").decode()}),
    "POST /designer/trial-run": lambda w, c: Call("POST", "/designer/trial-run",
                                                  {"xml": b.simple_task_process(f"t_{c}").decode()}),
    "GET /designer/handlers": lambda w, c: Call("GET", "/designer/handlers"),
    "POST /definitions/{key}/versions/{version}/suspend": lambda w, c: Call(
        "POST", f"/definitions/{w.fresh_process()}/versions/1/suspend"),
    "POST /definitions/{key}/versions/{version}/retire": lambda w, c: Call(
        "POST", f"/definitions/{w.fresh_process()}/versions/1/retire"),
    "POST /definitions/{key}/versions/{version}/resume": lambda w, c: Call(
        "POST", f"/definitions/{w.fresh_process()}/versions/1/resume"),
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
    "GET /search": lambda w, c: Call("GET", "/search?q=M1"),
    "GET /customers/{customer_id}": lambda w, c: Call("GET", f"/customers/{_customer(w)}"),
    "POST /complaints": lambda w, c: Call("POST", "/complaints", _complaint_body(w, c)),
    "GET /complaints/{case_no}": lambda w, c: Call("GET", f"/complaints/{_complaint(w)}"),
    "GET /reports/dashboard": lambda w, c: Call("GET", "/reports/dashboard?start=2025-02-01&end=2025-02-28"),
    "GET /reports/processes/{key}": lambda w, c: Call("GET", "/reports/processes/simple"),
    "POST /complaints/{case_no}/acts": lambda w, c: Call("POST", f"/complaints/{_complaint(w, _customer(w))}/acts", {
        "act": "withdraw", "reason": "客户来电撤回", "evidence": {"channel": "phone", "reference": f"REC-{c}"}}),
    "GET /grants": lambda w, c: Call("GET", "/grants"),
    "POST /grants": lambda w, c: Call("POST", "/grants", {"principal": "user:alice", "resource_kind": "customer",
                                                          "resource_id": "branch:朝阳支行", "permission": "read"}),
    "DELETE /grants/{grant_id}": lambda w, c: Call("DELETE", f"/grants/{w.grant()}"),
    "GET /approvals": lambda w, c: Call("GET", "/approvals"),
    "GET /approvals/{approval_id}": lambda w, c: Call("GET", f"/approvals/{w.approval()}"),
    "POST /approvals/{approval_id}/approve": lambda w, c: Call("POST", f"/approvals/{w.approval()}/approve"),
    "POST /approvals/{approval_id}/reject": lambda w, c: Call("POST", f"/approvals/{w.approval()}/reject",
                                                              {"reason": "不需要"}),
}


def _complaint_body(w: World, caller: str) -> dict[str, Any]:
    """A phone complaint as staff enter it (the complaint process deployed once per test)."""
    if not w.__dict__.get("complaints_deployed"):
        from tests.support.portal import deploy_complaints

        deploy_complaints(w.ctx)
        w.__dict__["complaints_deployed"] = True
    return {"channel": "phone", "business_type": "bank_cards", "cause": "other", "summary": f"matrix {caller}",
            "complainant_name": "王建国"}


def _complaint(w: World, customer_id: str | None = None) -> str:
    """A case being handled (a customer's case is acknowledged automatically and goes straight to handling)."""
    from engine.complaints import service as complaints

    body = _complaint_body(w, "system")
    view, _ = complaints.submit_complaint(w.ctx, complaints.ComplaintInput(**body, customer_id=customer_id),
                                          actor=SYSTEM)
    return view.case_no


def _customer(w: World) -> str:
    """A customer to read (added once per test)."""
    from engine.customers.models import Customer

    with w.ctx.sessions() as session:
        if session.get(Customer, "M1") is None:
            add_customers(w.ctx, customer("M1", manager="bob", branch="东城支行"))
    return "M1"


INTAKE_SECRET = "wechat-secret-for-the-matrix-0123"
PORTAL_PHONE = "13900001111"


@pytest.fixture
def app(ctx, people):
    intake = dataclasses.replace(ctx.settings.intake, secrets=(("wechat", INTAKE_SECRET),))
    ctx.settings = dataclasses.replace(ctx.settings, intake=intake)
    identity.create_user(ctx, username="vera", roles=["compliance"], password="correct horse 1")
    identity.create_user(ctx, username="gina", roles=["staff"], password="correct horse 1")
    identity.create_user(ctx, username="ada", roles=["admin"], password="correct horse 1")
    for kind, resource, permission in GINA_GRANTS:
        grants.add_grant(ctx, grants.parse("user:gina", kind, resource, permission), by="test", approved_by="test")
    people.update({name: identity.get_actor(ctx, name) for name in ("vera", "gina", "ada")})
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def customer_client(app, ctx):
    """C1 signed in to the portal (a customer's session, not a staff one)."""
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    add_customers(ctx, customer("C1", name="王建国", phone=PORTAL_PHONE))
    signed_in, _ = portal_login(app, ctx, sms, PORTAL_PHONE)
    return signed_in


@pytest.fixture
def headers(ctx, people, app) -> dict[str, dict[str, str]]:
    identity.create_user(ctx, username="rex", roles=["staff"], groups=["service_team"], password="correct horse 1")
    revoked = identity.create_token(ctx, username="rex")
    identity.revoke_tokens(ctx, "rex", actor=people["root"])
    result = {name: {"Authorization": f"Bearer {identity.create_token(ctx, username=name)}"} for name in PEOPLE}
    result.update({"intake": {}, "customer": {}, "anon": {}})
    result["garbage"] = {"Authorization": "Bearer cf_" + "x" * 43}
    result["revoked"] = {"Authorization": f"Bearer {revoked}"}
    return result


@pytest.fixture
def world(ctx, people, clock, app) -> World:
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


def _send(client: Any, customer_client: Any, headers: dict[str, dict[str, str]], world: World, caller: str,
          name: str, call: Call) -> Any:
    """One call as ``caller``: a bearer token, the portal customer's session, or the intake channel's signature."""
    http = customer_client if caller == "customer" else client
    path = "/api/v1" + call.path
    if call.form is not None:
        return http.open(path, method=call.method, data=call.form, content_type="multipart/form-data",
                         headers=headers[caller])
    if caller != "intake":
        return http.open(path, method=call.method, json=call.json, headers=headers[caller])
    body = dict(call.json or {})
    if name == "POST /complaints":  # a channel names itself in the header and identifies the message
        body.pop("channel", None)
        body["message_id"] = f"wx-{uuid.uuid4().hex[:12]}"
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = int(world.clock.now().timestamp())
    return http.open(path, method=call.method, data=raw, headers={
        "Content-Type": "application/json", "X-CareFlow-Channel": "wechat", "X-CareFlow-Timestamp": str(stamp),
        "X-CareFlow-Signature": signature(INTAKE_SECRET, stamp, raw)})


def test_authorization_matrix(client, customer_client, headers, world):
    actual: dict[str, tuple[int, ...]] = {}
    for name, make in REQUESTS.items():
        row = []
        for caller in CALLERS:
            response = _send(client, customer_client, headers, world, caller, name, make(world, caller))
            if response.status_code in (401, 403):  # refusals use the error contract
                code = "unauthenticated" if response.status_code == 401 else "permission_denied"
                assert response.json["error"]["code"] == code, (name, caller, response.json)
            row.append(response.status_code)
        actual[name] = tuple(row)
    differing = {k: (actual[k], EXPECTED[k]) for k in EXPECTED if actual.get(k) != EXPECTED[k]}
    assert not differing, "\n".join(f"{k}: got {got}, want {want}" for k, (got, want) in differing.items())


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


# --- every page, as every kind of caller ---------------------------------------------------------------------------
# The same rules through the browser: a session per caller (the portal customer's is a portal session), forms with
# their CSRF token. 302/303 = sent elsewhere (to sign in, or back to the page after a form), 403 = refused.

PAGE_CALLERS = ("alice", "carol", "sam", "dora", "vera", "gina", "root", "customer", "anon")


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    form: dict[str, Any] | None = None


PAGES: dict[str, tuple[Callable[[World, str], Page], tuple[int, ...]]] = {
    #                                                                alice carol sam dora vera gina root cust anon
    "GET /": (lambda w, c: Page("GET", "/"), (200, 200, 200, 200, 200, 200, 200, 302, 302)),
    "GET /healthz": (lambda w, c: Page("GET", "/healthz"), (200,) * 9),
    "GET /readyz": (lambda w, c: Page("GET", "/readyz"), (503,) * 9),  # no scheduler has beaten here
    # the test client calls from 127.0.0.1 and no scraper token is set: loopback may scrape (test_operations.py)
    "GET /metrics": (lambda w, c: Page("GET", "/metrics"), (200,) * 9),
    "GET /login": (lambda w, c: Page("GET", "/login"), (200,) * 9),
    "GET /favicon.ico": (lambda w, c: Page("GET", "/favicon.ico"), (200,) * 9),
    # only on loopback while sandbox channels are on (tests/web/test_dev_mailbox.py); here neither holds
    "GET /dev/mailbox": (lambda w, c: Page("GET", "/dev/mailbox"), (404,) * 9),
    # one unknown name per caller: five wrong passwords for one name would throttle the sixth (429)
    "POST /login": (lambda w, c: Page("POST", "/login", {"username": f"nobody-{c}", "password": "wrong password"}),
                    (401, 401, 401, 401, 401, 401, 401, 400, 400)),  # no staff session: no valid CSRF token
    "GET /login/code": (lambda w, c: Page("GET", "/login/code"), (302,) * 9),  # no password checked: back to /login
    "POST /login/code": (lambda w, c: Page("POST", "/login/code", {"code": "123456"}), (302,) * 9),
    "GET /account/second-factor": (lambda w, c: Page("GET", "/account/second-factor"),
                                   (403, 403, 200, 403, 403, 403, 200, 302, 302)),
    "POST /account/second-factor": (lambda w, c: Page("POST", "/account/second-factor", {"code": "123456"}),
                                    (403, 403, 302, 403, 403, 403, 302, 302, 302)),
    "GET /lang/<code>": (lambda w, c: Page("GET", "/lang/en?next=/"), (302,) * 9),
    "GET /inbox": (lambda w, c: Page("GET", "/inbox"), (200, 200, 200, 200, 200, 200, 200, 302, 302)),
    "GET /inbox/changes": (lambda w, c: Page("GET", "/inbox/changes"), (200, 200, 200, 200, 200, 200, 200, 302, 302)),
    "POST /inbox/claim-next": (lambda w, c: (w.open_task(), Page("POST", "/inbox/claim-next", {}))[1],
                               (302, 302, 302, 302, 302, 302, 302, 302, 302)),  # to the task, or back to the list
    "POST /inbox/bulk": (lambda w, c: Page("POST", "/inbox/bulk", {"action": "claim", "task_ids": w.open_task()}),
                         (302, 302, 302, 302, 302, 302, 302, 302, 302)),  # staff: refused with a message
    "POST /inbox/views": (lambda w, c: Page("POST", "/inbox/views", {"name": f"v-{c}", "view": "queue"}),
                          (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "POST /inbox/views/<int:view_id>/delete": (lambda w, c: Page("POST", f"/inbox/views/{w.saved_view()}/delete", {}),
                                               (403, 404, 302, 404, 404, 404, 404, 302, 302)),  # sam's team view: only he deletes
    "GET /inbox/notifications": (lambda w, c: Page("GET", "/inbox/notifications"),
                                 (200, 200, 200, 200, 200, 200, 200, 302, 302)),
    "POST /inbox/notifications/read": (lambda w, c: Page("POST", "/inbox/notifications/read", {}),
                                       (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "GET /inbox/notifications/settings": (lambda w, c: Page("GET", "/inbox/notifications/settings"),
                                          (200, 200, 200, 200, 200, 200, 200, 302, 302)),
    "POST /inbox/notifications/settings": (lambda w, c: Page("POST", "/inbox/notifications/settings",
                                                             {"channel": "inapp", "events": "task_assigned"}),
                                           (302, 302, 302, 302, 302, 302, 302, 302, 302)),  # one's own settings
    "GET /inbox/tasks/<task_id>": (lambda w, c: Page("GET", f"/inbox/tasks/{w.open_task()}"),
                                   (200, 403, 200, 403, 403, 403, 200, 302, 302)),
    "POST /inbox/tasks/<task_id>/<action>": (lambda w, c: Page("POST", f"/inbox/tasks/{w.open_task()}/claim", {}),
                                             (302, 403, 302, 403, 403, 403, 302, 302, 302)),
    "GET /inbox/attachments/<int:attachment_id>": (lambda w, c: Page("GET", f"/inbox/attachments/{w.attachment()}"),
                                                   (200, 403, 200, 403, 403, 403, 200, 302, 302)),
    "GET /supervisor": (lambda w, c: Page("GET", "/supervisor"), (403, 403, 200, 403, 403, 403, 200, 302, 302)),
    "POST /supervisor/instances/<instance_id>/retry": (
        lambda w, c: Page("POST", f"/supervisor/instances/{w.instance()}/retry", {}),
        (403, 403, 302, 403, 403, 403, 302, 302, 302)),
    "POST /supervisor/instances/<instance_id>/terminate": (
        lambda w, c: Page("POST", f"/supervisor/instances/{w.instance()}/terminate", {"reason": "测试"}),
        (403, 403, 302, 403, 403, 403, 302, 302, 302)),
    "POST /supervisor/outbox/<int:message_id>/retry": (
        lambda w, c: Page("POST", f"/supervisor/outbox/{w.dead_letter()}/retry", {}),
        (403, 403, 302, 403, 403, 403, 302, 302, 302)),
    "POST /supervisor/outbox/release": (
        lambda w, c: Page("POST", "/supervisor/outbox/release", {"all": "1"}),
        (403, 403, 302, 403, 403, 403, 302, 302, 302)),
    "GET /admin/users": (lambda w, c: Page("GET", "/admin/users"), (403, 403, 200, 403, 403, 403, 200, 302, 302)),
    "POST /admin/users": (lambda w, c: Page("POST", "/admin/users", {"username": f"new_{c}", "roles": "staff"}),
                          (403, 403, 403, 403, 403, 403, 302, 302, 302)),
    "POST /admin/users/<username>/<action>": (
        lambda w, c: Page("POST", "/admin/users/bob/update", {"roles": "staff", "groups": "service_team"}),
        (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "GET /admin/calendar": (lambda w, c: Page("GET", "/admin/calendar"), (403, 403, 200, 403, 403, 403, 200, 302, 302)),
    "POST /admin/calendar/<action>": (
        lambda w, c: Page("POST", "/admin/calendar/set", {"day": "2027-03-02", "kind": "rest", "name": "台风"}),
        (403, 403, 403, 403, 403, 403, 302, 302, 302)),
    "GET /admin/grants": (lambda w, c: Page("GET", "/admin/grants"), (403, 403, 403, 403, 403, 403, 200, 302, 302)),
    "POST /admin/grants": (lambda w, c: Page("POST", "/admin/grants", {
        "principal": "user:alice", "resource_kind": "customer", "resource_id": "branch:朝阳支行", "permission": "read"}),
        (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "POST /admin/grants/<int:grant_id>/revoke": (lambda w, c: Page("POST", f"/admin/grants/{w.grant()}/revoke", {}),
                                                 (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "GET /search": (lambda w, c: Page("GET", "/search?q=M1"), (200, 200, 200, 200, 200, 200, 200, 302, 302)),
    "GET /approvals": (lambda w, c: Page("GET", "/approvals"), (200, 200, 200, 200, 200, 200, 200, 302, 302)),
    "POST /approvals/<int:approval_id>/<decision>": (
        lambda w, c: Page("POST", f"/approvals/{w.approval()}/approve", {}),
        (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "GET /designer": (lambda w, c: Page("GET", "/designer"), (403, 403, 200, 200, 403, 403, 200, 302, 302)),
    "GET /designer/processes/<key>": (lambda w, c: Page("GET", "/designer/processes/simple"),
                                      (403, 403, 200, 200, 403, 403, 200, 302, 302)),
    "GET /designer/processes/<key>/diff": (lambda w, c: Page("GET", "/designer/processes/simple/diff?from=1&to=1"),
                                           (403, 403, 200, 200, 403, 403, 200, 302, 302)),
    "GET /designer/processes/<key>/heatmap": (lambda w, c: Page("GET", "/designer/processes/simple/heatmap"),
                                              (403, 403, 200, 200, 403, 403, 200, 302, 302)),
    "GET /designer/modeler/<key>": (lambda w, c: Page("GET", "/designer/modeler/simple"),
                                    (403, 403, 200, 200, 403, 403, 200, 302, 302)),
    "POST /designer/modeler": (lambda w, c: Page("POST", "/designer/modeler", {"key": "fresh_one"}),
                               (403, 403, 302, 302, 403, 403, 302, 302, 302)),  # only opens the modeler
    "GET /designer/handlers": (lambda w, c: Page("GET", "/designer/handlers"),
                               (403, 403, 200, 200, 403, 403, 200, 302, 302)),
    "POST /designer/drafts/<any(process, form):kind>/<name>/discard": (
        lambda w, c: Page("POST", f"/designer/drafts/process/{w.draft()}/discard", {}),
        (403, 403, 403, 303, 403, 403, 303, 302, 302)),  # sam may look, not discard
    "POST /designer/processes/<key>/versions/<int:version>/status": (
        lambda w, c: Page("POST", f"/designer/processes/{w.fresh_process()}/versions/1/status", {"action": "suspend"}),
        (403, 403, 403, 303, 403, 403, 303, 302, 302)),
    "GET /designer/forms/<form_id>": (lambda w, c: Page("GET", "/designer/forms/answer"),
                                      (403, 403, 200, 200, 403, 403, 200, 302, 302)),
    "GET /designer/instances/<instance_id>": (lambda w, c: Page("GET", f"/designer/instances/{w.instance()}"),
                                              (403, 403, 200, 200, 403, 403, 200, 302, 302)),  # dora: the path
    "POST /designer/processes/<key>/start": (lambda w, c: Page("POST", "/designer/processes/simple/start", {}),
                                             (403, 403, 302, 302, 403, 403, 302, 302, 302)),  # sam may start it
    "POST /designer/processes/<key>/migration": (
        lambda w, c: Page("POST", "/designer/processes/simple/migration", {"execute": "1"}),
        (403, 403, 302, 200, 403, 403, 200, 302, 302)),  # sam: refused, the message shown on the process page
    "POST /designer/import": (lambda w, c: Page("POST", "/designer/import", {
        "file": (io.BytesIO(b.simple_task_process(f"imp_{c}")), f"imp_{c}.bpmn")}),
        (403, 403, 302, 302, 403, 403, 302, 302, 302)),  # sam: refused with a message on the designer page
    "GET /customers": (lambda w, c: Page("GET", "/customers"), (200, 200, 200, 403, 200, 200, 200, 302, 302)),
    "GET /customers/<customer_id>": (lambda w, c: Page("GET", f"/customers/{_customer(w)}"),
                                     (403, 403, 200, 403, 200, 200, 200, 302, 302)),
    "POST /customers/<customer_id>/reveal": (
        lambda w, c: Page("POST", f"/customers/{_customer(w)}/reveal", {"field": "phone", "reason": "核实身份"}),
        (303, 303, 200, 303, 303, 303, 200, 302, 302)),  # refused: back to the page with the reason
    "GET /customers/import": (lambda w, c: Page("GET", "/customers/import"),
                              (403, 403, 200, 403, 403, 403, 200, 302, 302)),
    "POST /customers/import": (lambda w, c: Page("POST", "/customers/import", {
        "format": "csv", "file": (io.BytesIO(b"id,name\n"), "c.csv")}),
        (403, 403, 303, 403, 403, 403, 303, 302, 302)),
    "GET /customers/imports/<int:run_id>": (lambda w, c: Page("GET", f"/customers/imports/{w.import_run()}"),
                                            (403, 403, 200, 403, 403, 403, 200, 302, 302)),
    "GET /customers/imports/poll.js": (lambda w, c: Page("GET", "/customers/imports/poll.js"),
                                       (200,) * 9),  # a static script, no data
    "GET /complaints": (lambda w, c: Page("GET", "/complaints"), (200, 200, 200, 403, 403, 200, 200, 302, 302)),
    "GET /complaints/<case_no>": (lambda w, c: Page("GET", f"/complaints/{_complaint(w)}"),
                                  (200, 200, 200, 403, 403, 200, 200, 302, 302)),
    "GET /complaints/new": (lambda w, c: Page("GET", "/complaints/new"), (200, 200, 200, 403, 403, 200, 200, 302, 302)),
    "POST /complaints/new": (lambda w, c: Page("POST", "/complaints/new", {}),
                             (422, 422, 422, 403, 403, 422, 422, 302, 302)),
    "POST /complaints/<case_no>/acts": (lambda w, c: Page("POST", f"/complaints/{_complaint(w, _customer(w))}/acts", {
        "act": "withdraw", "reason": "来电撤回", "evidence_channel": "phone", "evidence_reference": f"REC-{c}"}),
        (302, 302, 302, 403, 403, 302, 302, 302, 302)),
    "GET /reports": (lambda w, c: Page("GET", "/reports"), (200, 200, 200, 403, 403, 200, 200, 302, 302)),
    "GET /reports/scorecards": (lambda w, c: Page("GET", "/reports/scorecards"),
                                (200, 200, 200, 403, 403, 200, 200, 302, 302)),
    "GET /reports/export/<name>.<fmt>": (lambda w, c: Page("GET", "/reports/export/work.csv"),
                                         (200, 200, 200, 403, 403, 200, 200, 302, 302)),
    "GET /reports/processes": (lambda w, c: Page("GET", "/reports/processes"),
                               (403, 403, 200, 200, 403, 403, 200, 302, 302)),
    "GET /reports/processes/<key>/export/<name>.<fmt>": (
        lambda w, c: Page("GET", "/reports/processes/simple/export/versions.csv"),
        (403, 403, 200, 200, 403, 403, 200, 302, 302)),
    "GET /scores": (lambda w, c: Page("GET", "/scores"), (200, 200, 200, 403, 403, 200, 200, 302, 302)),
    "GET /portal": (lambda w, c: Page("GET", "/portal"), (302,) * 9),
    "GET /portal/login": (lambda w, c: Page("GET", "/portal/login"), (200,) * 9),
    "POST /portal/login": (lambda w, c: Page("POST", "/portal/login", {"step": "phone", "phone": "13900002222"}),
                           (400, 400, 400, 400, 400, 400, 400, 200, 400)),  # a portal form needs the portal's token
    "GET /portal/complaints": (lambda w, c: Page("GET", "/portal/complaints"),
                               (302, 302, 302, 302, 302, 302, 302, 200, 302)),
    "GET /portal/complaints/new": (lambda w, c: Page("GET", "/portal/complaints/new"),
                                   (302, 302, 302, 302, 302, 302, 302, 200, 302)),
    "POST /portal/complaints/new": (lambda w, c: Page("POST", "/portal/complaints/new", {}),
                                    (302, 302, 302, 302, 302, 302, 302, 422, 302)),
    "GET /portal/complaints/<case_no>": (lambda w, c: Page("GET", f"/portal/complaints/{_complaint(w, 'C1')}"),
                                         (302, 302, 302, 302, 302, 302, 302, 200, 302)),
    "POST /portal/complaints/<case_no>/<action>": (
        lambda w, c: Page("POST", f"/portal/complaints/{_complaint(w, 'C1')}/withdraw", {"reason": "已解决"}),
        (302, 302, 302, 302, 302, 302, 302, 302, 302)),  # the customer's withdrawal done: back to the case
    # data-subject requests (engine.dsr.service): the compliance and supervisor roles; a customer their own, in the portal
    "GET /data-requests": (lambda w, c: Page("GET", "/data-requests"), (403, 403, 200, 403, 200, 403, 200, 302, 302)),
    "POST /data-requests": (lambda w, c: Page("POST", "/data-requests", {
        "customer_id": w.fresh_customer(), "kind": "access", "channel": "branch"}),
        (403, 403, 303, 403, 303, 403, 303, 302, 302)),
    "GET /data-requests/<int:request_id>": (lambda w, c: Page("GET", f"/data-requests/{w.data_request()}"),
                                            (403, 403, 200, 403, 200, 403, 200, 302, 302)),
    "POST /data-requests/<int:request_id>/<action>": (
        lambda w, c: Page("POST", f"/data-requests/{w.data_request()}/answer", {"answer": "见附件"}),
        (403, 403, 303, 403, 303, 403, 303, 302, 302)),
    "GET /data-requests/<int:request_id>/export.<fmt>": (
        lambda w, c: Page("GET", f"/data-requests/{w.data_request(answered=True)}/export.json"),
        (403, 403, 200, 403, 200, 403, 200, 302, 302)),
    "GET /portal/requests": (lambda w, c: Page("GET", "/portal/requests"),
                             (302, 302, 302, 302, 302, 302, 302, 200, 302)),
    "POST /portal/requests": (lambda w, c: Page("POST", "/portal/requests", {"kind": "deletion", "confirm": "1"}),
                              (302, 302, 302, 302, 302, 302, 302, 303, 302)),
    "GET /portal/requests/<int:request_id>": (
        lambda w, c: Page("GET", f"/portal/requests/{w.data_request('C1', answered=True)}"),
        (302, 302, 302, 302, 302, 302, 302, 200, 302)),
    "GET /portal/requests/<int:request_id>/export.<fmt>": (
        lambda w, c: Page("GET", f"/portal/requests/{w.data_request('C1', answered=True)}/export.xlsx"),
        (302, 302, 302, 302, 302, 302, 302, 200, 302)),
    # last: signing out ends each session
    "POST /logout": (lambda w, c: Page("POST", "/logout", {}), (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "POST /portal/logout": (lambda w, c: Page("POST", "/portal/logout", {}),
                            (400, 400, 400, 400, 400, 400, 400, 302, 400)),
}


def _page_rules(app: Any) -> set[str]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") or rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.add(f"{method} {rule.rule}")
    return found


def test_the_page_table_covers_every_page_and_caller(client):
    assert _page_rules(client.application) == set(PAGES)
    assert all(len(expected) == len(PAGE_CALLERS) for _, expected in PAGES.values())


@pytest.fixture
def sessions(app, customer_client) -> dict[str, tuple[Any, str]]:
    """A signed-in client and its CSRF token per caller (the customer: the portal's)."""
    found: dict[str, tuple[Any, str]] = {name: login(app, name) for name in PEOPLE}
    found["customer"] = (customer_client, csrf(customer_client.get("/portal/complaints").get_data(as_text=True)))
    found["anon"] = (app.test_client(), "")
    return found


def test_every_page_as_every_caller(sessions, world):
    differing = {}
    for name, (make, expected) in PAGES.items():
        row = []
        for caller in PAGE_CALLERS:
            http, token = sessions[caller]
            page = make(world, caller)
            if page.method == "GET":
                response = http.get(page.path)
            else:
                data = {"csrf_token": token, **(page.form or {})}
                response = http.post(page.path, data=data, content_type="multipart/form-data")
            row.append(response.status_code)
        if tuple(row) != expected:
            differing[name] = (tuple(row), expected)
    assert not differing, "\n".join(f"{k}: got {got}, want {want}" for k, (got, want) in differing.items())
