"""Wave progress (engine.care.waves) on the supervisor desk, in words in both languages, and in /metrics."""

from __future__ import annotations

from datetime import date

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.care.models import CareScanRun, WaveChunk
from engine.db.session import unit_of_work
from tests.support.web import login
from web import create_app

DAY = date(2025, 3, 3)  # the test clock's bank-local day


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _wave(ctx) -> None:
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        session.add(CareScanRun(job="holiday", day=DAY, status="running", started=0, skipped=0, started_at=now))
        for seq, (state, started, skipped) in enumerate([("done", 2000, 0), ("done", 1990, 10), ("running", 700, 0),
                                                         ("queued", 0, 0), ("failed", 0, 0)]):
            session.add(WaveChunk(job="holiday", day=DAY, seq=seq, state=state, started=started, skipped=skipped,
                                  attempts=1, queued_at=now))


def test_the_desk_shows_a_running_wave_in_words(app, ctx):
    _wave(ctx)
    client, _token = login(app, "sam")
    page = client.get("/supervisor").get_data(as_text=True)
    section = page[page.index('id="waves"'):page.index("</table>", page.index('id="waves"'))]
    assert "节日关怀" in section and "运行中" in section
    assert "2 / 5" in section and ">4690<" in section and ">10<" in section and ">1<" in section
    assert "holiday" not in section and "running" not in section  # no raw codes
    english = client.get("/supervisor?lang=en").get_data(as_text=True)
    assert "Holiday greetings" in english and "Care waves" in english


def test_staff_see_no_desk(app, ctx):
    _wave(ctx)
    client, _token = login(app, "alice")
    assert client.get("/supervisor").status_code == 403


def test_metrics_count_chunks_by_state_and_customers_processed(app, ctx):
    _wave(ctx)
    body = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body) for s in family.samples}
    chunks = {labels[1][1]: value for (name, labels), value in samples.items()
              if name == "careflow_wave_chunks" and dict(labels)["job"] == "holiday"}
    assert chunks == {"queued": 1, "running": 1, "done": 2, "failed": 1}
    assert samples[("careflow_wave_customers", (("job", "holiday"), ("outcome", "started")))] == 4690
    assert samples[("careflow_wave_customers", (("job", "holiday"), ("outcome", "skipped")))] == 10
