"""How many interchange fixtures open as drafts and how many deploy and run to the end.

    python -m scripts.interchange_report            # a throw-away SQLite database, prints a table and the counts

Each file of ``tests/fixtures/interchange/`` (their shapes: Camunda 7/8, Signavio, ARIS, ADONIS, Trisotech, Bizagi,
W4, Yaoqiang) is imported as a draft (``engine.services.model_import.import_as_draft``); a draft with nothing to fix
is then deployed through the import (with the DMN files the manifest names) and run to the end: user tasks are
claimed and completed by a candidate with the manifest's data, and the clock moves to the next timer when nothing
else can move. ``tests/integration/test_interchange_fixtures.py`` asserts the same per fixture.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.bpmn.loader import SourceFile
from engine.clock import FrozenClock
from engine.context import EngineContext
from engine.services import designer, instances, model_import, tasks
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM, Actor

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "interchange"
IMPORTER = Actor("interchange-bot", frozenset({"designer"}))
START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
PEOPLE = {"alice": (["staff"], ["service_team"]), "sam": (["supervisor"], ["service_team", "supervisors"])}


@dataclass
class Outcome:
    fixture: str
    tool: str
    opened: bool = False
    must_fix: list[str] = field(default_factory=list)
    ignored: int = 0
    mapped: int = 0
    deployed: bool = False
    completed: bool = False
    visited: list[str] = field(default_factory=list)
    error: str | None = None


def manifest() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    return data


def extra_files(entry: dict[str, Any]) -> list[SourceFile]:
    return [SourceFile(name, (FIXTURES / name).read_bytes()) for name in entry.get("with", [])]


def open_as_draft(ctx: EngineContext, name: str, entry: dict[str, Any]) -> model_import.DraftImport:
    return model_import.import_as_draft(ctx, filename=name, content=(FIXTURES / name).read_bytes(), actor=IMPORTER,
                                        extra_files=extra_files(entry))


def deploy(ctx: EngineContext, name: str, entry: dict[str, Any]) -> str:
    result = model_import.import_definition(ctx, filename=name, content=(FIXTURES / name).read_bytes(),
                                            actor=IMPORTER, extra_files=extra_files(entry),
                                            process=entry.get("process"))
    assert result.deploy is not None
    return result.deploy.definition.key


def run_to_end(ctx: EngineContext, clock: FrozenClock, key: str, entry: dict[str, Any],
               people: dict[str, Actor]) -> tuple[str, list[str]]:
    """Start an instance and drive it: (final status, visited element ids)."""
    started = instances.start_instance(ctx, process_key=key, actor=SYSTEM, variables=entry.get("variables") or {})
    data = entry.get("data") or {}
    for _ in range(50):
        view = instances.get_instance(ctx, started.id, actor=SYSTEM)
        if view.status != "running":
            break
        if view.open_tasks:
            task = view.open_tasks[0]
            actor = people[_performer(task, people)]
            if task.assignee is None:
                tasks.claim_task(ctx, task.id, actor=actor)
            tasks.complete_task(ctx, task.id, actor=actor, data=data.get(task.task_name) or {})
            continue
        due = [t.due_at for t in view.timers if t.due_at is not None]
        if not due:
            break
        clock.set(max(clock.now(), min(due)))
        fire_due_timers(ctx)
    view = instances.get_instance(ctx, started.id, actor=SYSTEM)
    path = designer.instance_path(ctx, started.id, actor=IMPORTER)
    return view.status, sorted(path.visited)


def _performer(task: Any, people: dict[str, Actor]) -> str:
    if task.assignee:
        return str(task.assignee)
    for user in task.candidate_users:
        if user in people:
            return str(user)
    for name, actor in people.items():
        if set(task.candidate_groups) & set(actor.groups):
            return name
    raise AssertionError(f"nobody in {sorted(people)} may claim {task.task_name}")


def check(ctx: EngineContext, clock: FrozenClock, people: dict[str, Actor], name: str, entry: dict[str, Any]) -> Outcome:
    outcome = Outcome(name, entry.get("tool", ""))
    try:
        opened = open_as_draft(ctx, name, entry)
    except Exception as exc:  # counted and shown, not raised: the report covers every file
        outcome.error = f"{type(exc).__name__}: {exc}"
        return outcome
    outcome.opened = True
    outcome.must_fix = [f"{p.line or '-'} {p.element_id or '-'}: {p.message}" for p in opened.must_fix]
    outcome.ignored, outcome.mapped = len(opened.ignored), len(opened.mapped)
    if opened.must_fix and not entry.get("process"):
        return outcome
    try:
        key = deploy(ctx, name, entry)
        outcome.deployed = True
        status, outcome.visited = run_to_end(ctx, clock, key, entry, people)
        outcome.completed = status == "completed"
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome


def main() -> int:
    from engine.config import DatabaseSettings, PrivacySettings, SecuritySettings, Settings, UploadSettings
    from engine.context import build_engine
    from engine.db import migrate
    from engine.db.session import make_db_engine
    from engine.services import identity

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database=DatabaseSettings(url=f"sqlite:///{folder}/interchange.db"),
                            security=SecuritySettings(cheap_password_hashing=True),
                            privacy=PrivacySettings(data_key="aW50ZXJjaGFuZ2UtcmVwb3J0LXRocm93YXdheS1rZXk="),
                            uploads=UploadSettings(dir=Path(folder)))
        db = make_db_engine(settings)
        migrate.upgrade(db)
        clock = FrozenClock(START)
        ctx = build_engine(settings, clock=clock, db=db)
        for user, (roles, groups) in PEOPLE.items():
            identity.create_user(ctx, username=user, roles=roles, groups=groups, password="correct horse 1")
        people = {user: identity.get_actor(ctx, user) for user in PEOPLE}
        entries = manifest()
        outcomes = [check(ctx, clock, people, name, entry) for name, entry in entries.items()]
        db.dispose()
    for o in outcomes:
        state = "runs to the end" if o.completed else "deploys" if o.deployed else "draft" if o.opened else "FAILED"
        print(f"{o.fixture:42} {o.tool:12} {state:16} ignored {o.ignored:3}  mapped {o.mapped:3}  "
              f"must fix {len(o.must_fix)}{'  ' + o.error if o.error else ''}")
        for item in o.must_fix:
            print(f"{'':44}- {item}")
    camunda7 = [o for o in outcomes if o.tool == "Camunda 7"]
    print(f"\nopen as draft: {sum(o.opened for o in outcomes)}/{len(outcomes)}; "
          f"deploy: {sum(o.deployed for o in outcomes)}/{len(outcomes)}; "
          f"run to the end: {sum(o.completed for o in outcomes)}/{len(outcomes)}; "
          f"Camunda 7 deploy: {sum(o.deployed for o in camunda7)}/{len(camunda7)}")
    return 0 if all(o.opened for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
