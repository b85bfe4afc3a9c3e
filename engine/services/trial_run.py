"""A test run of a draft against sample data, in a throw-away database: the path it takes and the data at the end.

The designer gives the draft's XML, sample start variables and, optionally, what each user task answers (by element
id). The engine builds a second engine context on an in-memory SQLite database (never the live one), deploys the
draft there with the forms it names, starts it and completes every user task it reaches with the given (or empty)
answers, up to a step limit, until the instance ends or waits for something else (a timer, a message). The built-in
service handlers run bound to that throw-away context, so what they write (customers, complaints, messages in the
outbox) lands in the throw-away database and is gone with it; handlers from integration modules (outside systems)
are not called: a stub answers for them and the result names them. The script limits (time, operations, memory)
are the live engine's settings. Nothing of the run is kept.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from engine import audit
from engine.context import EngineContext, build_engine
from engine.db import protected
from engine.db.base import Base
from engine.db.models import ProcessInstance
from engine.db.session import configure_sqlite, unit_of_work
from engine.errors import EngineError, FormValidationError, InvalidInputError, NotFoundError
from engine.runtime import instance as runtime
from engine.runtime.trail import trail
from engine.services import definitions, designer, instances, tasks
from engine.services.authz import require_role
from engine.services.grants import seed_defaults
from engine.views import SYSTEM, Actor

MAX_STEPS = 50  # user tasks completed per run at most (a loop in the model stops here)
MAX_ANSWERS = 200


@dataclass(frozen=True)
class TrialTask:
    element_id: str
    title: str
    data: dict[str, Any]


@dataclass(frozen=True)
class TrialRun:
    process_key: str
    status: str  # completed | waiting | error | step_limit
    visited: dict[str, int]  # element id → times completed
    path: tuple[str, ...]  # the visited elements in the order the run first reached them
    current: tuple[str, ...]
    failed: tuple[str, ...]
    tasks: tuple[TrialTask, ...]  # the user tasks completed, in order, with the data they were given
    variables: dict[str, Any]
    error: str | None = None
    error_element: str | None = None
    simulated_handlers: tuple[str, ...] = ()  # integration handlers a stub answered for (not called)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _memory_engine() -> Engine:
    db = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    configure_sqlite(db)
    Base.metadata.create_all(db)
    return db


def _sandbox(ctx: EngineContext) -> tuple[EngineContext, list[str]]:
    """A context like ``ctx`` on an empty in-memory database; integration handlers replaced by recording stubs."""
    live = ctx.settings
    settings = dataclasses.replace(
        live, database=dataclasses.replace(live.database, url="sqlite://"),
        core=dataclasses.replace(live.core, handler_modules=(), report_parallelism=1),
        security=dataclasses.replace(live.security, four_eyes_changes=False))
    db = _memory_engine()
    try:
        trial = build_engine(settings, clock=ctx.clock, db=db, form_validator=ctx.form_validator)
    finally:
        # build_engine points the process-wide cipher and audit key at the new context: back to the live one's
        protected.use_cipher(lambda: ctx.cipher)
        audit.configure(ctx.cipher.audit_key)
    with Session(db) as session, session.begin():
        seed_defaults(session, ctx.clock.now())
    called: list[str] = []
    for name, scope in ctx.handler_scopes.items():
        if name not in trial.handlers:
            trial.register_handler(name, _stub(name, called), processes=scope)
    return trial, called


def _stub(name: str, called: list[str]) -> Any:
    def handler(_params: Any, _call: Any) -> dict[str, Any]:
        called.append(name)
        return {}

    return handler


def _check_answers(answers: Any) -> dict[str, dict[str, Any]]:
    if answers is None:
        return {}
    if not isinstance(answers, dict) or len(answers) > MAX_ANSWERS or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in answers.items()):
        raise InvalidInputError("answers are an object: user task id → the form data it submits",
                                details={"field": "answers"})
    return answers


def run_trial(ctx: EngineContext, *, xml: str, actor: Actor, variables: dict[str, Any] | None = None,
              answers: dict[str, dict[str, Any]] | None = None, max_steps: int = MAX_STEPS) -> TrialRun:
    """Run a draft in a throw-away database to its end, a wait state other than a user task, or ``max_steps``
    completed user tasks. Raises InvalidDefinitionError (the draft does not deploy), InvalidInputError,
    PermissionDeniedError. A failure while running is not raised: it is the result (``status='error'``)."""
    require_role(actor, "designer")
    given = _check_answers(answers)
    if variables is not None and not isinstance(variables, dict):
        raise InvalidInputError("sample variables are an object", details={"field": "variables"})
    content = xml.encode("utf-8")
    key, _ = designer._process_id_and_forms(content)
    with unit_of_work(ctx.sessions, write=False) as session:  # the live database, read only: the named forms
        files = designer._bundle(session, key, content, [])
    trial, called = _sandbox(ctx)
    try:
        result = definitions.deploy_definition(trial, files=files, actor=SYSTEM, process_key=key)
        assert result is not None
        process_key = result.definition.key
        started = instances.start_instance(trial, process_key=process_key, actor=SYSTEM, variables=variables or {})
        done: list[TrialTask] = []
        status, error, element = "waiting", None, None
        while True:
            view = instances.get_instance(trial, started.id, actor=SYSTEM)
            if view.status != "running" or not view.open_tasks:
                break
            if len(done) >= max_steps:
                status = "step_limit"
                break
            task = view.open_tasks[0]
            data = dict(given.get(task.task_name, {}))
            performer = Actor(f"trial-{len(done) + 1}", frozenset({"admin"}))  # a new person each time: four eyes
            try:
                tasks.claim_task(trial, task.id, actor=performer)
                tasks.complete_task(trial, task.id, actor=performer, data=data)
            except FormValidationError as exc:
                status, element = "error", task.task_name
                error = f"{exc.message}: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())
                break
            except EngineError as exc:
                status, error, element = "error", exc.message, task.task_name
                break
            done.append(TrialTask(task.task_name, task.title, _plain(data)))
        with unit_of_work(trial.sessions, write=False) as session:
            row = session.get(ProcessInstance, instances.parse_id(started.id))
            if row is None:
                raise NotFoundError("the trial instance is gone")
            workflow = runtime.restore(trial, session, row, trial.clock)
            path = trail(workflow)
            variables_at_end = _variables(workflow)
            if row.status == "error":
                status, error, element = "error", row.error_message, row.error_task
            elif row.status == "completed":
                status = "completed"
            elif status != "error" and row.status != "running":
                status = row.status
        return TrialRun(process_key, status, dict(path.visited), _in_order(workflow, path.visited), path.current,
                        path.failed, tuple(done), variables_at_end, error, element, tuple(dict.fromkeys(called)))
    finally:
        trial.db.dispose()


def _in_order(workflow: Any, visited: dict[str, int]) -> tuple[str, ...]:
    """The visited elements in the order the run first reached them."""
    first: dict[str, float] = {}
    for task in workflow.get_tasks():
        element = getattr(task.task_spec, "bpmn_id", None)
        if element in visited:
            first[element] = min(first.get(element, task.last_state_change), task.last_state_change)
    return tuple(sorted(visited, key=lambda e: first.get(e, 0.0)))


def _variables(workflow: Any) -> dict[str, Any]:
    """The process data as its latest task sees it (and the workflow's own data once it has ended)."""
    data: dict[str, Any] = {}
    for task in sorted(workflow.get_tasks(), key=lambda t: t.last_state_change):
        data.update(task.data)
    data.update(getattr(workflow, "data", {}) or {})
    return {k: v for k, v in _plain(data).items() if not k.startswith("_")}
