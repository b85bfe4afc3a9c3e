"""Every form in forms/ reads in the UI's language: the schema in Chinese, ``careflow.labels_en`` in English.

The convention is ``web/formrender.py``'s: ``"<key>"`` for a field, ``"<key>=<value>"`` for an option,
``"#<component id>"`` for a text component or a group heading. A form with a missing, misspelt or
left-over English entry fails here, and so does a schema label that still carries inline English.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from web import formrender

ROOT = Path(__file__).resolve().parents[2]
FORMS = sorted((ROOT / "forms").glob("*.json"))
DATA_TYPES = {"textfield", "textarea", "number", "checkbox", "datetime", "select", "radio", "checklist", "taglist"}

# Latin letters that belong in a Chinese label: codes and abbreviations a clerk reads as they are.
ALLOWED_LATIN = {"AUM", "ID", "SMS", "WMP", "WMPs", "APP", "DOMAIN", "R1", "R2", "R3", "R4", "R5",
                 "C1", "C2", "C3", "C4", "C5"}
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _looks_english(text: str) -> bool:
    """A Chinese schema string carrying English: CJK plus a Latin word of 3+ letters that is no known code."""
    if not CJK.search(text):
        return False
    return any(len(re.sub(r"[0-9]", "", word)) >= 3 and word not in ALLOWED_LATIN
               for word in LATIN_WORD.findall(text))


def _components(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        yield from _components(component.get("components") or [])


def _option_key(key: str, value: Any) -> str:
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"


def _chinese(form: dict[str, Any]) -> dict[str, str]:
    """Every string a clerk reads, by its ``labels_en`` entry: the schema's Chinese."""
    shown: dict[str, str] = {}
    for c in _components(form["components"]):
        if c["type"] == "text" or (c["type"] == "group" and c.get("label")):
            shown[f"#{c['id']}"] = c.get("text") or c["label"]
        elif c["type"] in DATA_TYPES:
            shown[c["key"]] = c["label"]
            for option in c.get("values") or []:
                shown[_option_key(c["key"], option["value"])] = option["label"]
    return shown


def _load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "forms" / name).read_text("utf-8"))


def test_the_heuristic_tells_inline_english_from_codes():
    assert _looks_english("核查情况 What was checked")
    assert _looks_english("电话（录音）Phone (recorded)")
    assert _looks_english("短信 SMS or e-mail")
    for fine in ("客户AUM（元）", "R3及以上", "C5 进取型", "短信 SMS", "核对身份证 ID", "（docs/domain.md §2.2）", "10万–50万元",
                 "50%–70%", "Phone", "1. 您的年龄"):
        assert not _looks_english(fine), fine


def test_every_form_is_checked():
    assert len(FORMS) >= 22 and {"onboarding_kyc.json", "complaint_investigate.json"} <= {p.name for p in FORMS}


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.stem)
def test_the_schema_is_chinese_and_labels_en_covers_exactly_what_it_shows(path):
    form = json.loads(path.read_text("utf-8"))
    chinese = _chinese(form)
    english = form["careflow"]["labels_en"]
    assert sorted(set(chinese) - set(english)) == [], "no English for these"
    assert sorted(set(english) - set(chinese)) == [], "English for nothing in the schema (misspelt key, id or value?)"
    assert [k for k, text in chinese.items() if not CJK.search(text) and LATIN_WORD.search(text)] == [], \
        "a schema string in Latin letters only"
    assert [text for text in chinese.values() if _looks_english(text)] == [], "inline English left in the schema"
    assert [text for text in english.values() if CJK.search(text) or not text.strip()] == [], "English that is not"


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.stem)
def test_the_schema_form_js_gets_in_english_shows_no_chinese(path):
    from web.formrender import localized

    form = json.loads(path.read_text("utf-8"))
    english = localized(form, "en")
    assert "careflow" not in english and "careflow" not in localized(form, "zh-CN")
    assert not CJK.search(json.dumps(english, ensure_ascii=False)), "Chinese left in the English schema"
    assert localized(form, "zh-CN") == {k: v for k, v in form.items() if k != "careflow"}  # Chinese: as deployed
    assert form["careflow"]["labels_en"]  # the source was not changed by the copy


def test_english_render_of_a_form_with_text_options_and_a_conditional_deadline():
    form = _load("complaint_investigate.json")
    english = formrender.fields(form, "en")
    assert english[0].kind == "text" and english[0].text.startswith("The answer must state what was checked")
    by_path = {f.path: f for f in english if f.path}
    assert by_path["findings"].label == "What was checked"
    assert by_path["decision"].options == (('"upheld"', "Upheld"), ('"partly"', "Partly upheld"),
                                           ('"rejected"', "Not upheld"))
    assert by_path["extension"].options[1] == ('"complex"', "Complex: extend to 30 days from receipt")
    chinese = formrender.fields(form, "zh-CN")
    assert chinese[0].text.startswith("答复须说明核查情况") and "answer" not in chinese[0].text
    by_path = {f.path: f for f in chinese if f.path}
    assert by_path["findings"].label == "核查情况"
    assert by_path["decision"].options == (('"upheld"', "支持客户诉求"), ('"partly"', "部分支持"), ('"rejected"', "不支持"))
    assert [f.label for f in formrender.fields(form, "zh")] == [f.label for f in chinese]  # current_language()'s "zh"


def test_groups_are_headed_in_the_language_and_boolean_options_use_json_keys():
    kyc = formrender.fields(_load("onboarding_kyc.json"), "en")
    assert (kyc[0].kind, kyc[0].text) == ("text", "Know your customer (KYC)")
    channels = {f.path: f for f in kyc}["kyc.preferred_channel"]
    assert (channels.label, channels.options[3]) == ("Preferred contact channel", ('"inapp"', "Mobile banking app"))
    assert formrender.fields(_load("onboarding_kyc.json"), "zh-CN")[0].text == "了解你的客户"
    approve = {f.path: f for f in formrender.fields(_load("service_request_approve.json"), "en")}
    assert approve["approved"].options == (("true", "Approve"), ("false", "Send back"))
    # the group heading is read-only: parsing a post still yields only the fields, nested by group path
    assert formrender.parse(_load("onboarding_kyc.json"), _posted(occupation="\"retired\""))["kyc"]["occupation"] == \
        "retired"


def _posted(**values: str):
    from werkzeug.datastructures import MultiDict

    return MultiDict({f"kyc.{k}": v for k, v in values.items()})


def test_the_task_page_follows_the_ui_language_cookie(ctx, people):
    from engine.services import instances
    from engine.views import SYSTEM
    from tests.support.care import add_customers, customer
    from tests.support.engine import deploy
    from tests.support.web import login
    from web import create_app

    files = [("service_request.bpmn", (ROOT / "processes" / "service_request.bpmn").read_bytes())]
    files += [(p.name, p.read_bytes()) for p in FORMS if p.name.startswith("service_request_")]
    deploy(ctx, *files)
    add_customers(ctx, customer("C1", date(1980, 5, 20), name="王小明", tier="gold", phone="13912345678"))
    instances.start_instance(ctx, process_key="service_request", actor=SYSTEM, customer_id="C1", business_key="SR-1")
    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    client, _ = login(app, "alice")
    task_id = re.search(r'href="/inbox/tasks/([0-9a-f-]{36})"', client.get("/inbox?view=queue").get_data(as_text=True))
    page = client.get(f"/inbox/tasks/{task_id.group(1)}").get_data(as_text=True)
    assert "处理说明" in page and "Amount involved (CNY)" not in page
    client.get("/lang/en")  # the language switch: a cookie, no ?lang= on the task page
    page = client.get(f"/inbox/tasks/{task_id.group(1)}").get_data(as_text=True)
    assert "Resolution" in page and "Amount involved (CNY)" in page and "处理说明" not in page
