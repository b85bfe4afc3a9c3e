"""No code is shown raw to a person: every page, as every role, in both languages, after the demo data is loaded.

A "code" is what the engine stores and a person should never have to decode: statuses (``awaiting_approval``),
audit actions (``task.claim``), channels (``mobile_app``), message templates (``birthday_greeting``), process
keys (``complaint_handling``), complaint classifications. The walk renders every page the navigation offers and
the pages of a few seeded tasks, cases, customers and instances; a snake_case or dotted token in the visible text
that is not a user name, a group name (on the users page) or a designer's id fails the test, as does a
bilingual "中文 English" element name on a Chinese page. Every code family of ``web.labels`` is checked to
have a Chinese translation and an English label that is not the code.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask_babel import force_locale

from engine.complaints import codes
from engine.complaints.models import ComplaintStatus
from engine.customers.models import CustomerStatus
from engine.db.models import HumanTaskStatus, InstanceStatus
from engine.outbox.models import OutboxStatus
from engine.views import ROLES
from web import create_app

DEMO_PASSWORD = "careflow-demo"
# A machine token in visible text: snake_case or dotted lower-case words (task.claim, awaiting_approval).
TOKEN = re.compile(r"(?<![\w./@-])[a-z][a-z0-9]*(?:[_.][a-z0-9]+)+(?![\w/@-]|\.[a-z])")
# A bilingual element name on a Chinese page: a CJK word, a space, then a capitalised English word.
BILINGUAL = re.compile(r"[\u4e00-\u9fff][?？)）]? (?:[A-Z][a-z]+)(?: [a-zA-Z-]+)*")


class _Visible(HTMLParser):
    """The text a person reads: no scripts, styles or attribute values (data-*, value=, id=)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "textarea"):
            self._skip += 1
        for name, value in attrs:  # what a person does see of attributes
            if name in ("placeholder", "title", "aria-label", "data-confirm") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "textarea") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return "\n".join(p.strip() for p in parser.parts if p.strip())


FILE = re.compile(r"[\w.-]+\.(pdf|png|jpe?g|txt|docx|xlsx|bpmn|dmn|json|xml)")


def raw_tokens(text: str, allowed: set[str]) -> set[str]:
    return {t for t in TOKEN.findall(text) if t not in allowed and not FILE.fullmatch(t)}


def recorded_audit_actions() -> set[str]:
    """Every audit action the code records by name (``action="task.claim"``): histories and timelines show them."""
    root = Path(__file__).resolve().parents[2]
    found = {m for d in ("engine", "web", "integrations") for f in (root / d).rglob("*.py")
             for m in re.findall(r"action=[\"']([a-z_]+\.[a-z_.]+)[\"']", f.read_text(encoding="utf-8"))}
    assert len(found) > 40  # the scan finds the calls (a moved audit API would otherwise pass this test empty)
    return found


def test_every_code_family_is_translated_into_both_languages(ctx):
    from web import labels

    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    expected = {
        "task_status": {s.value for s in HumanTaskStatus}, "instance_status": {s.value for s in InstanceStatus},
        "complaint_status": {s.value for s in ComplaintStatus}, "message_status": {s.value for s in OutboxStatus},
        "customer_status": {s.value for s in CustomerStatus}, "role": set(ROLES),
        **{axis: set(table) for axis, table in codes.AXES.items()},
        "template": set(ctx.templates()), "message_channel": {"sms", "email", "wechat", "inapp", "auto"},
        "action": recorded_audit_actions(),
    }
    with app.test_request_context():
        for family, wanted in expected.items():
            assert wanted <= set(labels.FAMILIES[family]), (family, wanted - set(labels.FAMILIES[family]))
        for family, table in labels.FAMILIES.items():
            for code in table:
                with force_locale("zh"):
                    zh = labels.label(code, family)
                with force_locale("en"):
                    en = labels.label(code, family)
                assert re.search(r"[\u4e00-\u9fff]", zh), (family, code, zh)  # translated
                assert en != code and not re.search(r"[\u4e00-\u9fff]", en), (family, code, en)
        with force_locale("zh"):
            for axis, table in codes.AXES.items():  # the catalogue says what the standard's table says
                assert {c: labels.label(c, axis) for c in table} == {c: v.zh for c, v in table.items()}
            assert labels.label("no_such_code", "task_status") == "no_such_code"


def test_numbers_money_and_percentages_are_formatted_for_people(ctx):
    from web import labels

    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    with app.test_request_context():
        with force_locale("zh"):
            assert labels.money("115958304.60") == "¥1.16亿"
            assert labels.money(2680) == "¥2,680.00"
            assert labels.money("59164400") == "¥5916万" and labels.money(592000) == "¥59.2万"
            assert labels.percent("0.0267") == "2.7%"
            assert labels.number(1234567) == "1,234,567"
            assert labels.money("") == "—" and labels.percent(None) == "—"
        with force_locale("en"):
            assert labels.money("115958304.60") == "¥116M" and labels.money(1_250_000) == "¥1.25M"
            assert labels.percent(0.0267) == "2.7%"


def test_element_names_in_one_language(ctx):
    from web import labels

    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    with app.test_request_context():
        with force_locale("zh"):
            assert labels.one_language("受理 Intake") == "受理"
            assert labels.one_language("有客户号? Known customer?") == "有客户号?"
            assert labels.one_language("投诉处理 Complaint handling (docs/domain.md §1)") == "投诉处理"
            assert labels.one_language("Service request") == "Service request"
            assert labels.one_language("1天未处理 1 day open") == "1天未处理"
            assert labels.one_language("柜面/客户经理 Front desk / customer manager") == "柜面/客户经理"
        with force_locale("en"):
            assert labels.one_language("受理 Intake") == "Intake"
            assert labels.one_language("分类分派 Triage (complaint_routing)") == "Triage (complaint_routing)"
            assert labels.one_language("客户经理生日致电") == "客户经理生日致电"
            assert labels.one_language("1天未处理 1 day open") == "1 day open"
            assert labels.one_language("受理", english="Intake") == "Intake"


@pytest.fixture
def demo(ctx):
    from web.demo import USERS, load

    list(load(ctx))
    # What the demo never shows by itself: a dead letter and a failed instance on the supervisor desk.
    from sqlalchemy import select, update

    from engine.db.models import ProcessInstance
    from engine.outbox.models import OutboxMessage

    with ctx.sessions.begin() as session:
        message = session.scalars(select(OutboxMessage.id).limit(1)).first()
        session.execute(update(OutboxMessage).where(OutboxMessage.id == message).values(
            status="dead", status_reason="retries_exhausted", last_error="gateway timeout"))
        instance = session.scalars(select(ProcessInstance.id).where(
            ProcessInstance.process_key == "complaint_handling", ProcessInstance.status == "running").limit(1)).first()
        session.execute(update(ProcessInstance).where(ProcessInstance.id == instance).values(
            status="error", error_task="investigate", error_message="division by zero"))
    return ctx, [u[0] for u in USERS]


def _pages(client: Any, username: str) -> list[str]:
    """Every page the navigation offers this user, and the detail pages linked from the lists."""
    home = client.get("/inbox?view=all").get_data(as_text=True) + client.get("/inbox?view=queue").get_data(as_text=True)
    nav = re.findall(r'<nav class="top">(.*?)</nav>', home, re.S)
    urls = ["/", "/inbox", "/inbox?view=queue", "/inbox?view=all", "/inbox?view=archive"]
    urls += re.findall(r'href="(/[^"?#]*)"', nav[0] if nav else "")
    for pattern, page in ((r'href="(/inbox/tasks/[0-9a-f-]{36})"', home),
                          (r'href="(/complaints/TS[0-9-]+)"', client.get("/complaints").get_data(as_text=True)),
                          (r'href="(/customers/[A-Z0-9]+)"', client.get("/customers").get_data(as_text=True)),
                          (r'href="(/designer/processes/\w+)"', client.get("/designer").get_data(as_text=True))):
        urls += list(dict.fromkeys(re.findall(pattern, page)))[:4]
    return list(dict.fromkeys(urls))


def test_no_page_shows_a_raw_code_or_two_languages(demo):
    ctx, usernames = demo
    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    from web.labels import FAMILIES

    # One-word codes (open, claimed, gold, supervisor) cannot be told from English on an English page; on a
    # Chinese page any of them is a code shown raw.
    words = {code for table in FAMILIES.values() for code in table if re.fullmatch(r"[a-z]+", code)}
    groups = {"service_team", "customer_managers", "front_desk", "branch_team", "revisit_team", "supervisors", "compliance"}
    allowed = set(usernames) | {"e.g", "careflow.notify", "zhang.wei", "li.na", "zhao.lei", "wang.fang", "chen.jie"}
    problems: dict[str, set[str]] = {}
    for username in usernames:
        client = app.test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
        assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                           "csrf_token": token}).status_code == 302
        for lang in ("zh", "en"):
            client.get(f"/lang/{lang}")
            for url in _pages(client, username):
                response = client.get(url)
                if response.status_code != 200 or not response.mimetype == "text/html":
                    continue
                text = visible_text(response.get_data(as_text=True))
                ok = allowed | (groups if url.startswith(("/admin/users", "/reports")) else set())
                if url.startswith(("/designer", "/admin/grants")):  # ids a designer or an administrator types
                    ok |= set(TOKEN.findall(text)) | words
                if url.startswith("/admin/users"):  # the roles an administrator types (placeholder "staff,supervisor")
                    ok |= {"staff", "supervisor"}
                found = raw_tokens(text, ok)
                if lang == "zh":
                    found |= {f"bilingual: {m}" for m in BILINGUAL.findall(text)}
                    found |= set(re.findall(r"(?<![\w.:/@-])[a-z]+(?![\w.:/@-])", text)) & words - ok
                if found:
                    problems.setdefault(f"{username} {lang} {url.split('?')[0]}", set()).update(found)
    assert problems == {}, "\n".join(f"{k}: {sorted(v)}" for k, v in sorted(problems.items()))


def test_process_files_follow_the_naming_convention():
    """docs/bpmn-conventions.md: name in Chinese, careflow:nameEn in English, never both in one name."""
    from pathlib import Path
    from xml.etree import ElementTree

    from web.labels import NAME_EN

    missing, paired = [], []
    for path in sorted((Path(__file__).resolve().parents[2] / "processes").glob("*.bpmn")):
        for element in ElementTree.parse(path).iter():
            name = element.get("name")
            if not name or not re.search(r"[\u4e00-\u9fff]", name) or not element.get("id"):
                continue
            if re.search(r"[A-Za-z]{2,}", name) and not re.search(r"\(\w+\)$", name):
                paired.append(f"{path.name}:{element.get('id')}: {name}")
            if not element.get(NAME_EN):
                missing.append(f"{path.name}:{element.get('id')}")
    assert paired == [] and missing == []


def test_english_pages_show_the_english_names_of_the_diagram(demo):
    ctx, _ = demo
    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "wang.fang", "password": DEMO_PASSWORD, "csrf_token": token})
    english = visible_text(client.get("/supervisor?lang=en").get_data(as_text=True))
    chinese = visible_text(client.get("/supervisor?lang=zh").get_data(as_text=True))
    assert "Investigate" in english and "Complaint handling" in english and "调查处理" not in english
    assert "调查处理" in chinese and "投诉处理" in chinese and "Investigate" not in chinese
    assert "Periodic revisit" in visible_text(client.get("/inbox?view=all&lang=en").get_data(as_text=True))


def test_actors_that_are_not_staff_are_named_for_people(ctx):
    from web import labels

    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    with app.test_request_context():
        with force_locale("zh"):
            assert labels.actor_name("customer:C1001") == "客户本人（C1001）"
            assert labels.actor_name("retention") == "数据保留任务"
            assert labels.actor_name("system") == "CareFlow（自动）"
            assert labels.actor_name("li.na") == "li.na"  # staff by their user name
        with force_locale("en"):
            assert labels.actor_name("customer:C1001") == "The customer (C1001)"
            assert labels.actor_name("cli") == "Administrator (command line)"
            assert labels.actor_name(None) == "—"
