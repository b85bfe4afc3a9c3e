"""An archived instance (retention dropped its state) still shows its summary: no page or API call fails on it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from engine.context import build_engine
from engine.services import instances, retention
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks
from tests.support.web import login
from web import create_app


@pytest.fixture
def short(ctx, settings, clock):
    return build_engine(replace(settings, retention=replace(settings.retention, history_days=30)), clock=clock,
                        db=ctx.db)


def test_pages_and_the_api_answer_for_an_archived_instance(short, people, clock):
    deploy(short, ("letter.bpmn", b.simple_task_process("letter")))
    started = instances.start_instance(short, process_key="letter", actor=SYSTEM)
    task = open_tasks(short, str(started.id))[0]
    claim_and_complete(short, task.id, people["alice"], {"note": "checked"})
    clock.advance(timedelta(days=31))
    assert retention.run(short).archived == 1
    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=short)
    client, _ = login(app, "sam")
    api = client.get(f"/api/v1/instances/{started.id}")
    assert api.status_code == 200 and api.json["status"] == "completed"
    page = client.get(f"/designer/instances/{started.id}")
    text = page.get_data(as_text=True)  # the summary and the audit trail, not an error page
    assert page.status_code == 200 and "已按数据保留规则归档" in text, text[:500]
    assert "流程已归档" in text and "完成任务" in text and 'data-status="completed"' in text
    assert "数据保留任务" in text  # who archived it, named for people
    done = client.get(f"/tasks/{task.id}")
    assert done.status_code in (200, 404), done.get_data(as_text=True)[:500]
