"""A stopped scheduler job is seen: a banner on the supervisor desk (zh-CN and English) and "degraded" in /healthz.

/healthz stays HTTP 200 (a web node is healthy even when the scheduler is not; taking it out of the load balancer
would not help): the JSON body says what is wrong.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from engine.services import scheduler_health
from engine.services.scheduler_health import Beat
from tests.support.web import login
from web import create_app


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _beat(ctx, job: str, node: str = "sched-1:100", success=True) -> None:
    now = ctx.clock.now()
    scheduler_health.record(ctx, node, [Beat(job, now, now, now if success else None, None, None,
                                             now + timedelta(seconds=30))])


def test_no_banner_and_ok_while_the_heartbeats_are_fresh(app, ctx, clock):
    for job in ("timers.sweep", "outbox.dispatch", "sla.breaches"):
        _beat(ctx, job)
    clock.advance(timedelta(seconds=60))
    client, _ = login(app, "sam")
    assert 'id="scheduler-stopped"' not in client.get("/supervisor").get_data(as_text=True)
    body = app.test_client().get("/healthz").json
    assert body["status"] == "ok" and body["scheduler"]["status"] == "ok" and body["scheduler"]["stale_jobs"] == []


def test_a_stale_heartbeat_shows_a_banner_naming_the_job_with_its_last_run(app, ctx, clock, caplog):
    _beat(ctx, "timers.sweep")  # 2025-03-03 09:00 in Shanghai
    _beat(ctx, "outbox.dispatch")
    clock.advance(timedelta(minutes=2))
    _beat(ctx, "outbox.dispatch")  # still beating
    clock.advance(timedelta(seconds=ctx.settings.scheduler.stale_seconds - 60))  # timers: 7 minutes silent
    client, _ = login(app, "sam")
    with caplog.at_level(logging.ERROR, logger="engine.services.scheduler_health"):
        page = client.get("/supervisor").get_data(as_text=True)
    assert 'id="scheduler-stopped"' in page
    assert "后台任务“流程计时器”已停止" in page and "2025-03-03 09:00" in page
    assert "消息发送" not in page  # the outbox is fine
    assert "scheduler job timers.sweep has stopped" in caplog.text
    english = client.get("/supervisor?lang=en").get_data(as_text=True)
    assert "The background job “Process timers” has stopped" in english and "2025-03-03 09:00" in english


def test_a_job_that_never_succeeded_says_so(app, ctx, clock):
    _beat(ctx, "sla.breaches", success=False)
    clock.advance(timedelta(seconds=ctx.settings.scheduler.stale_seconds + 1))
    client, _ = login(app, "sam")
    page = client.get("/supervisor?lang=en").get_data(as_text=True)
    assert "The background job “SLA breach checks” has stopped" in page and "never" in page


def test_healthz_reports_the_scheduler_degraded_with_status_200(app, ctx, clock):
    assert app.test_client().get("/healthz").json["scheduler"]["status"] == "unknown"  # no scheduler ever wrote
    _beat(ctx, "timers.sweep", node="sched-1:100")
    _beat(ctx, "timers.sweep", node="sched-2:200")
    clock.advance(timedelta(seconds=ctx.settings.scheduler.stale_seconds + 1))
    _beat(ctx, "timers.sweep", node="sched-2:200")  # the second scheduler took over
    took_over = clock.now()
    body = app.test_client().get("/healthz").json
    assert body["status"] == "ok" and body["scheduler"]["stale_processes"] == 1
    assert "sched-1" not in json.dumps(body)  # host names stay inside: the page is public
    clock.advance(timedelta(seconds=ctx.settings.scheduler.stale_seconds + 1))  # and now it stopped too
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["scheduler"]["status"] == "degraded" and body["scheduler"]["stale_jobs"] == ["timers.sweep"]
    assert body["scheduler"]["jobs"]["timers.sweep"]["stale"] is True
    assert body["scheduler"]["jobs"]["timers.sweep"]["last_success"] == took_over.isoformat()


def test_the_desk_is_for_supervisors_only(app, ctx, clock):
    client, _ = login(app, "alice")
    assert client.get("/supervisor").status_code == 403
