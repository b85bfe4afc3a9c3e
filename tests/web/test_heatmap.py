"""The designer's heatmap page: every element kind of a process, its counts as the activity history holds them, and
durations in one unit system per page (Chinese by default, English on request) on the table and the diagram."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.db.history import ActivityHistory
from engine.db.session import unit_of_work
from engine.services import instances
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks
from tests.support.web import login
from tests.web.test_designer import _page_data
from web import create_app

GROUP = {"candidateGroups": "service_team"}
KINDS_ZH = {"start": "开始事件", "review": "人工任务", "lookup": "服务任务", "calc": "脚本任务", "route": "排他网关",
            "wait": "中间捕获事件", "close": "人工任务", "confirm": "人工任务", "end": "结束事件"}
KINDS_EN = {"start": "Start event", "review": "User task", "lookup": "Service task", "calc": "Script task",
            "route": "Exclusive gateway", "wait": "Intermediate catch event", "close": "User task",
            "confirm": "User task", "end": "End event"}
# Mean (= 90th percentile: one completed each) per element, as each language writes it.
MEAN_ZH = {"start": "0 秒", "review": "9 分钟", "lookup": "0 秒", "calc": "0 秒", "route": "0 秒", "wait": "2.5 小时",
           "close": "3 天", "confirm": "45 秒", "end": "0 秒"}
MEAN_EN = {"start": "0 s", "review": "9 min", "lookup": "0 s", "calc": "0 s", "route": "0 s", "wait": "2.5 h",
           "close": "3 d", "confirm": "45 s", "end": "0 s"}


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def ran(ctx, people, clock):
    return run_heat_process(ctx, people, clock)


def run_heat_process(ctx, people, clock):
    """One instance through every element (review 556 s, the timer 2.5 h, close 3 days, confirm 45 s) and a second
    one waiting in review."""
    ctx.register_handler("core.lookup", lambda params, call: {"id": params["cid"]})
    deploy(ctx, ("heat.bpmn", with_diagram(b.definitions("heat", [
        b.start(), b.user_task("review", "审核", **GROUP), b.service_task("lookup", "core.lookup", cid="'C1'"),
        b.script_task("calc", "x = 1"), b.gateway("route", default="flow_route_wait"),
        b.timer_catch("wait", "duration", '"PT2H30M"'), b.user_task("close", "结案", **GROUP),
        b.user_task("confirm", "确认", **GROUP), b.end(), b.end("never")],
        [b.flow("start", "review"), b.flow("review", "lookup"), b.flow("lookup", "calc"), b.flow("calc", "route"),
         b.flow("route", "wait"), b.flow("route", "never", "x == 2"), b.flow("wait", "close"),
         b.flow("close", "confirm"), b.flow("confirm", "end")]))))
    started = instances.start_instance(ctx, process_key="heat", actor=SYSTEM)
    for wait in (timedelta(seconds=556), None, timedelta(days=3), timedelta(seconds=45)):
        if wait is None:
            clock.advance(timedelta(hours=2, minutes=30))
            assert fire_due_timers(ctx).fired == 1
            continue
        clock.advance(wait)
        [task] = open_tasks(ctx, started.id)
        claim_and_complete(ctx, task.id, people["alice"])
    instances.start_instance(ctx, process_key="heat", actor=SYSTEM)
    return started


LAYOUT = {"start": (0, "event"), "review": (1, "task"), "lookup": (2, "task"), "calc": (3, "task"),
          "route": (4, "gateway"), "wait": (5, "event"), "close": (6, "task"), "confirm": (7, "task"),
          "end": (8, "event"), "never": (5.3, "event")}
SIZES = {"task": (100, 80), "event": (36, 36), "gateway": (50, 50)}


def _bounds(element: str) -> tuple[float, float, int, int]:
    column, kind = LAYOUT[element]
    width, height = SIZES[kind]
    middle = 260 if element == "never" else 120
    return 60 + column * 150 + (100 - width) / 2, middle - height / 2, width, height


def with_diagram(xml: bytes) -> bytes:
    """The heat process with a diagram (shapes in a row, ``never`` below the gateway), as a modeler saves it."""
    shapes = []
    for element in LAYOUT:
        x, y, w, h = _bounds(element)
        shapes.append(f'<bpmndi:BPMNShape id="{element}_di" bpmnElement="{element}">'
                      f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}"/></bpmndi:BPMNShape>')
    for source, target in re.findall(r'sourceRef="([^"]+)" targetRef="([^"]+)"', xml.decode()):
        (sx, sy, sw, sh), (tx, ty, _tw, th) = _bounds(source), _bounds(target)
        shapes.append(f'<bpmndi:BPMNEdge id="flow_{source}_{target}_di" bpmnElement="flow_{source}_{target}">'
                      f'<di:waypoint x="{sx + sw}" y="{sy + sh / 2}"/><di:waypoint x="{tx}" y="{ty + th / 2}"/>'
                      "</bpmndi:BPMNEdge>")
    diagram = ('<bpmndi:BPMNDiagram id="heat_diagram"><bpmndi:BPMNPlane id="heat_plane" bpmnElement="heat">'
               + "".join(shapes) + "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>")
    namespaces = ('xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
                  'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" ')
    text = xml.decode().replace("<bpmn:definitions ", "<bpmn:definitions " + namespaces, 1)
    return text.replace("</bpmn:definitions>", diagram + "</bpmn:definitions>").encode()


def _rows(html: str) -> dict[str, dict[str, str]]:
    rows = {}
    for element, body in re.findall(r'<tr data-element="([^"]+)"[^>]*>(.*?)</tr>', html, re.S):
        cells = dict(re.findall(r'<td data-label="[^"]*"(?: class="([a-z0-9]+)")?>(.*?)</td>', body, re.S))
        rows[element] = {k: v.strip() for k, v in cells.items() if k}
    return rows


def test_the_heatmap_shows_every_element_kind_in_one_language_with_the_historys_numbers(app, ctx, ran):
    client, _ = login(app, "sam")
    with unit_of_work(ctx.sessions, write=False) as session:
        history = session.execute(select(ActivityHistory.element_id, ActivityHistory.ended_at)).all()
    entered = Counter(element for element, _ in history)
    active = Counter(element for element, ended in history if ended is None)

    for lang, kinds, means, foreign in (("zh", KINDS_ZH, MEAN_ZH, (" min", " h", " d", "User task")),
                                        ("en", KINDS_EN, MEAN_EN, ("秒", "分钟", "小时", "天", "人工任务"))):
        page = client.get(f"/designer/processes/heat/heatmap?lang={lang}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        rows = _rows(html)
        assert {e: r["kind"] for e, r in rows.items() if e != "never"} == kinds
        assert {e: (r["avg"], r["p90"]) for e, r in rows.items() if e != "never"} == {e: (m, m) for e, m in means.items()}
        assert {e: int(r["count"]) for e, r in rows.items()} == {**entered, "never": 0}
        assert {e: int(r["open"]) for e, r in rows.items() if int(r["open"])} == dict(active) == {"review": 1}
        assert rows["never"]["avg"] == "—"
        shown = [r[column] for r in rows.values() for column in ("kind", "avg", "p90")]
        assert not [text for text in shown if any(word in text for word in foreign)], lang
        # The diagram's badges read the same texts as the table.
        overlay = {s["element_id"]: (s["count"], s["avg"], s["p90"]) for s in _page_data(html)["stats"]}
        assert overlay == {e: (int(r["count"]), r["avg"], r["p90"]) for e, r in rows.items()}


def test_the_heatmap_filters_by_period_in_the_banks_zone_and_by_version(app, ctx, ran):
    client, _ = login(app, "sam")
    # The run began on 3 March 2025 at 09:00 Shanghai and reached close at 11:40; confirm (3 days later) and the
    # second instance are of 6 March.
    first_day = _rows(client.get("/designer/processes/heat/heatmap?from=2025-03-03&to=2025-03-03").get_data(as_text=True))
    assert [first_day[e]["count"] for e in ("start", "review", "close", "confirm")] == ["1", "1", "1", "0"]
    later = _rows(client.get("/designer/processes/heat/heatmap?from=2025-03-04").get_data(as_text=True))
    assert [later[e]["count"] for e in ("start", "review", "close", "confirm")] == ["1", "1", "0", "1"]
    every = _rows(client.get("/designer/processes/heat/heatmap?version=all").get_data(as_text=True))
    assert every["review"]["count"] == "2"
    assert client.get("/designer/processes/heat/heatmap?version=9").status_code == 404


def test_durations_read_in_one_unit_rounded_at_the_unit_boundaries(app):
    from web.labels import duration

    cases = {None: ("—", "—"), 0: ("0 秒", "0 s"), 45: ("45 秒", "45 s"), 59.4: ("59 秒", "59 s"),
             59.6: ("1 分钟", "1 min"), 556: ("9 分钟", "9 min"), 3569: ("59 分钟", "59 min"), 3600: ("1 小时", "1 h"),
             9000: ("2.5 小时", "2.5 h"), 86340: ("1 天", "1 d"), 129600: ("1.5 天", "1.5 d"), 259200: ("3 天", "3 d")}
    for index, lang in enumerate(("zh", "en")):
        with app.test_request_context(f"/?lang={lang}"):
            assert {s: duration(s) for s in cases} == {s: texts[index] for s, texts in cases.items()}, lang


def test_the_instance_page_lists_the_steps_taken_in_the_pages_language(app, ran):
    client, _ = login(app, "sam")
    html = client.get(f"/designer/instances/{ran.id}").get_data(as_text=True)
    steps = dict(re.findall(r'<tr data-element="([^"]+)">.*?<td data-label="[^"]*" class="duration">([^<]*)</td>', html,
                            re.S))
    assert steps == {e: m for e, m in MEAN_ZH.items()}
    english = client.get(f"/designer/instances/{ran.id}?lang=en").get_data(as_text=True)
    assert '<td data-label="Duration" class="duration">2.5 h</td>' in english and "小时" not in english
