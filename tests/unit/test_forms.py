"""Form definitions are checked at deploy time; submissions are validated on the server, never trusted."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import pytest

from engine.errors import DefinitionProblem, FormValidationError
from engine.forms import build_schema, check_form_definition, validate_submission

FORMS_DIR = Path(__file__).resolve().parents[2] / "forms"

COMPLAINT = {
    "type": "default", "id": "complaint_intake", "schemaVersion": 16,
    "components": [
        {"type": "text", "id": "Text_intro", "text": "# 客户投诉登记"},
        {"type": "textfield", "id": "Field_name", "key": "customer_name", "label": "客户姓名",
         "validate": {"required": True, "minLength": 2, "maxLength": 50}},
        {"type": "textfield", "id": "Field_phone", "key": "phone", "label": "手机号", "validate": {"pattern": r"^1\d{10}$"}},
        {"type": "select", "id": "Field_channel", "key": "channel", "label": "渠道",
         "values": [{"label": "电话", "value": "phone"}, {"label": "网点", "value": "branch"},
                    {"label": "手机银行", "value": "app"}, {"label": "微信", "value": "wechat"}]},
        {"type": "number", "id": "Field_amount", "key": "amount", "label": "涉及金额", "decimalDigits": 2,
         "validate": {"min": 0}},
        {"type": "textarea", "id": "Field_desc", "key": "description", "label": "投诉内容",
         "validate": {"required": True, "maxLength": 2000}},
        {"type": "checkbox", "id": "Field_agree", "key": "agree", "label": "客户同意录音"},
        {"type": "datetime", "id": "Field_visit", "key": "visit_on", "subtype": "date", "label": "预约到访日期"},
        {"type": "group", "id": "Group_address", "path": "address", "label": "地址",
         "components": [{"type": "textfield", "id": "Field_city", "key": "city", "validate": {"required": True}}]},
        {"type": "group", "id": "Group_layout", "label": "补充",
         "components": [{"type": "checklist", "id": "Field_tags", "key": "tags",
                         "values": [{"label": "紧急", "value": "urgent"}, {"label": "重复投诉", "value": "repeat"}]}]},
        {"type": "separator", "id": "Sep_1"},
    ],
    "careflow": {"labels_en": {"customer_name": "Customer name", "phone": "Mobile"}},
    "exporter": {"name": "Camunda Modeler", "version": "5.30.0"},
}

VALID = {"customer_name": "王芳", "phone": "13800138000", "channel": "branch", "amount": 1200.5,
         "description": "转账三天未到账", "agree": True, "visit_on": "2025-03-04", "address": {"city": "上海"},
         "tags": ["urgent"]}


def _errors(data: object, lang: str = "zh-CN", form: dict | None = None) -> dict[str, list[str]]:
    with pytest.raises(FormValidationError) as info:
        validate_submission(form or COMPLAINT, data, lang=lang)
    assert info.value.code == "form_invalid" and info.value.details == {"fields": info.value.errors}
    assert all(isinstance(m, str) for messages in info.value.errors.values() for m in messages)
    return info.value.errors


def test_the_complaint_form_and_the_deployed_forms_are_well_formed():
    assert check_form_definition(COMPLAINT, file="complaint_intake.json") == []
    deployed = sorted(FORMS_DIR.glob("*.json"))
    assert deployed, "the repository ships example forms"
    for path in deployed:
        assert check_form_definition(json.loads(path.read_text("utf-8")), file=path.name) == [], path.name


def test_a_valid_submission_comes_back_clean_and_json_serializable():
    cleaned = validate_submission(COMPLAINT, copy.deepcopy(VALID))
    assert cleaned == VALID
    assert json.loads(json.dumps(cleaned)) == VALID


def test_absent_optional_fields_stay_absent_and_nulls_are_allowed_for_them():
    minimal = {"customer_name": "李雷", "description": "信用卡年费争议", "address": {"city": "北京"}}
    assert validate_submission(COMPLAINT, minimal) == minimal
    with_nulls = {**minimal, "phone": None, "amount": None, "visit_on": None, "tags": None}
    assert validate_submission(COMPLAINT, with_nulls) == with_nulls
    # form-js sends "" for an untouched optional text field: length and pattern rules skip it
    assert validate_submission(COMPLAINT, {**minimal, "phone": ""})["phone"] == ""


ZH = {"required": "此项为必填项", "length_range": "长度应在 2 到 50 个字符之间", "length_max": "不能超过 2000 个字符",
      "pattern": "格式不正确", "choice": "不是可选的值", "min": "不能小于 0", "date": "日期格式应为 YYYY-MM-DD",
      "unknown": "未知字段", "digits": "最多保留 2 位小数"}
EN = {"required": "This field is required", "length_range": "Must be between 2 and 50 characters long",
      "length_max": "Must be at most 2000 characters long", "pattern": "Does not match the required format",
      "choice": "Not one of the allowed options", "min": "Must be at least 0", "date": "Date must look like YYYY-MM-DD",
      "unknown": "Unknown field", "digits": "At most 2 decimal digits are allowed"}


@pytest.mark.parametrize(("lang", "text"), [("zh-CN", ZH), ("en", EN), ("en-US", EN)])
def test_each_rule_reports_under_its_field_in_the_requested_language(lang, text):
    errors = _errors({"customer_name": "王", "phone": "12345", "channel": "fax", "amount": -1, "visit_on": "明天",
                      "description": "x" * 2001, "agree": True, "address": {"city": "  ", "zip": "200000"},
                      "tags": ["urgent", "vip"], "referrer": "x"}, lang)
    assert errors == {
        "customer_name": [text["length_range"]], "phone": [text["pattern"]], "channel": [text["choice"]],
        "amount": [text["min"]], "visit_on": [text["date"]], "description": [text["length_max"]],
        "address.city": [text["required"]], "address.zip": [text["unknown"]], "tags": [text["choice"]],
        "referrer": [text["unknown"]],
    }
    assert _errors({**VALID, "amount": 10.005}, lang) == {"amount": [text["digits"]]}


def test_missing_required_fields_including_inside_a_missing_group():
    assert _errors({}) == {"customer_name": ["此项为必填项"], "description": ["此项为必填项"],
                           "address.city": ["此项为必填项"]}
    assert _errors({**VALID, "customer_name": None, "description": "   ", "address": None}, "en") == {
        "customer_name": ["This field is required"], "description": ["This field is required"],
        "address": ["This field is required"]}


def test_unknown_languages_fall_back_to_chinese():
    assert _errors({**VALID, "referrer": 1}, "fr") == {"referrer": ["未知字段"]}


@pytest.mark.parametrize(
    ("field", "value", "zh", "en"),
    [("amount", "1200", "应为数字", "Must be a number"),
     ("amount", True, "应为数字", "Must be a number"),
     ("customer_name", ["王芳"], "应为文本", "Must be text"),
     ("description", 42, "应为文本", "Must be text"),
     ("agree", "true", "应为是或否", "Must be true or false"),
     ("agree", 1, "应为是或否", "Must be true or false"),
     ("tags", "urgent", "应为列表", "Must be a list"),
     ("address", "上海", "应为对象", "Must be an object"),
     ("visit_on", 20250304, "日期格式应为 YYYY-MM-DD", "Date must look like YYYY-MM-DD")],
)
def test_wrong_types_are_rejected(field, value, zh, en):
    assert _errors({**VALID, field: value}) == {field: [zh]}
    assert _errors({**VALID, field: value}, "en") == {field: [en]}


def test_non_object_submissions_are_rejected_as_a_whole():
    assert _errors(["王芳"]) == {"_schema": ["应为对象"]}
    assert _errors("customer_name=王芳", "en") == {"_schema": ["Must be an object"]}


def test_booleans_radio_dates_times_and_required_checkbox_follow_form_js():
    form = {"components": [
        {"type": "radio", "key": "approved", "values": [{"label": "同意", "value": True}, {"label": "退回", "value": False}],
         "validate": {"required": True}},
        {"type": "checkbox", "key": "consent", "validate": {"required": True}},
        {"type": "datetime", "key": "call_at", "subtype": "time"},
        {"type": "datetime", "key": "visit_at", "subtype": "datetime"},
        {"type": "number", "key": "count", "validate": {"min": 1, "max": 3}},
        {"type": "textfield", "key": "email", "validate": {"validationType": "email"}},
        {"type": "textfield", "key": "code", "validate": {"minLength": 4}},
    ]}
    ok = validate_submission(form, {"approved": False, "consent": True, "call_at": "09:30",
                                    "visit_at": "2025-03-04T09:30:00+08:00", "count": 3, "email": "a.b@bank.cn"})
    assert ok == {"approved": False, "consent": True, "call_at": "09:30", "visit_at": "2025-03-04T09:30+08:00",
                  "count": 3, "email": "a.b@bank.cn"}
    assert isinstance(ok["count"], int)
    assert _errors({"approved": 0, "consent": False, "call_at": "25:00", "visit_at": "yesterday", "count": 4,
                    "email": "nobody", "code": "ab"}, "en", form) == {
        "approved": ["Not one of the allowed options"], "consent": ["This field is required"],
        "call_at": ["Time must look like HH:MM"], "visit_at": ["Date and time must look like YYYY-MM-DDTHH:MM"],
        "count": ["Must be between 1 and 3"], "email": ["Not a valid email address"],
        "code": ["Must be at least 4 characters long"]}


def test_conditionally_hidden_fields_are_not_required_but_still_type_checked():
    form = {"components": [{"type": "textfield", "key": "reason", "validate": {"required": True},
                            "conditional": {"hide": "=approved"}}]}
    assert validate_submission(form, {}) == {}
    assert _errors({"reason": 5}, "en", form) == {"reason": ["Must be text"]}


def test_equal_forms_share_one_cached_schema_per_language():
    reordered = json.loads(json.dumps(COMPLAINT, sort_keys=True))
    assert reordered is not COMPLAINT and list(reordered) != list(COMPLAINT)
    assert type(build_schema(COMPLAINT)) is type(build_schema(reordered))
    assert build_schema(COMPLAINT) is build_schema(COMPLAINT)  # one instance per thread, none shared by threads:
    elsewhere: list[object] = []
    thread = threading.Thread(target=lambda: elsewhere.append(build_schema(COMPLAINT)))
    thread.start()
    thread.join()
    assert elsewhere[0] is not build_schema(COMPLAINT) and type(elsewhere[0]) is type(build_schema(COMPLAINT))
    assert type(build_schema(COMPLAINT, lang="en")) is not type(build_schema(COMPLAINT))
    assert type(build_schema(COMPLAINT, lang="en")) is type(build_schema(COMPLAINT, lang="en-GB"))
    assert validate_submission(reordered, VALID) == validate_submission(COMPLAINT, VALID)
    changed = copy.deepcopy(COMPLAINT)
    changed["components"][1]["validate"]["minLength"] = 3
    assert type(build_schema(changed)) is not type(build_schema(COMPLAINT))
    assert _errors({**VALID, "customer_name": "王芳"}, form=changed) == {"customer_name": ["长度应在 3 到 50 个字符之间"]}


def _problems(*components: dict) -> list[DefinitionProblem]:
    return check_form_definition({"type": "default", "components": list(components)}, file="bad.json")


@pytest.mark.parametrize(
    ("component", "element_id", "fragment"),
    [({"type": "textfield", "id": "Field_1", "label": "姓名"}, "Field_1", "needs a non-empty 'key'"),
     ({"type": "textfield", "id": "Field_2", "key": ""}, "Field_2", "needs a non-empty 'key'"),
     ({"type": "textfield", "key": "customer name"}, "customer name", "not a valid identifier"),
     ({"type": "number", "key": "class"}, "class", "not a valid identifier"),
     ({"type": "number", "key": "_secret"}, "_secret", "not a valid identifier"),
     ({"type": "textfield", "key": "address.city"}, "address.city", "not a valid identifier"),
     ({"type": "signature", "id": "Field_sig", "key": "sig"}, "Field_sig", "unknown component type 'signature'"),
     ({"type": "wizard", "key": "step"}, "step", "unknown component type"),
     ({"type": ["textfield"], "key": "x"}, "x", "unknown component type"),
     ({"type": "select", "id": "Field_ch", "key": "channel"}, "Field_ch", "needs a 'values' list"),
     ({"type": "radio", "key": "r", "values": []}, "r", "needs a 'values' list"),
     ({"type": "checklist", "key": "c", "values": [{"label": "x"}]}, "c", "needs a 'value'"),
     ({"type": "textfield", "key": "p", "validate": {"pattern": "^(1\\d{10}$"}}, "p", "not a valid (Python) regular"),
     ({"type": "textfield", "key": "p", "validate": {"pattern": "(?<year>\\d{4})"}}, "p", "regular expression"),
     ({"type": "number", "id": "Field_n", "key": "n", "validate": {"min": 5, "max": 1}}, "Field_n",
      "validate.min (5) is greater than validate.max (1)"),
     ({"type": "textarea", "key": "t", "validate": {"minLength": 10, "maxLength": 2}}, "t", "minLength (10) is greater"),
     ({"type": "number", "key": "n", "validate": {"max": "100"}}, "n", "validate.max must be a number"),
     ({"type": "number", "key": "n", "decimalDigits": -1}, "n", "decimalDigits"),
     ({"type": "datetime", "key": "d", "subtype": "week"}, "d", "subtype"),
     ({"type": "group", "id": "Group_1", "path": "1st"}, "Group_1", "needs a 'components' list"),
     ({"type": "group", "id": "Group_2", "path": "home-address", "components": []}, "Group_2", "not a valid identifier")],
)
def test_definition_problems_name_the_component(component, element_id, fragment):
    [problem] = _problems(component)
    assert problem.element_id == element_id and problem.file == "bad.json" and problem.line is None
    assert fragment in problem.message


def test_duplicate_keys_are_found_per_data_scope():
    [dup] = _problems({"type": "textfield", "id": "Field_a", "key": "amount"},
                      {"type": "group", "components": [{"type": "number", "id": "Field_b", "key": "amount"}]})
    assert dup.element_id == "Field_b" and "duplicate key 'amount'" in dup.message
    [clash] = _problems({"type": "textfield", "key": "address"},
                        {"type": "group", "id": "Group_addr", "path": "address", "components": []})
    assert clash.element_id == "Group_addr" and "duplicate path" in clash.message
    assert _problems({"type": "textfield", "key": "city"},  # a group with a path is its own scope
                     {"type": "group", "path": "address", "components": [{"type": "textfield", "key": "city"}]}) == []


def test_problems_inside_groups_and_dynamic_values_are_handled():
    [inner] = _problems({"type": "group", "path": "address",
                         "components": [{"type": "taglist", "id": "Field_tags", "key": "tags"}]})
    assert inner.element_id == "Field_tags"
    assert _problems({"type": "select", "key": "branch", "valuesKey": "branches"},
                     {"type": "taglist", "key": "products", "valuesExpression": "=products"},
                     {"type": "image", "source": "logo.png"}, {"type": "button", "action": "submit"}) == []


def test_dynamic_options_accept_scalars_only():
    form = {"components": [{"type": "select", "key": "branch", "valuesKey": "branches"},
                           {"type": "taglist", "key": "products", "valuesExpression": "=products"}]}
    assert validate_submission(form, {"branch": "SH-001", "products": ["card", 3]}) == {
        "branch": "SH-001", "products": ["card", 3]}
    assert _errors({"branch": {"id": 1}, "products": [["card"]]}, form=form) == {
        "branch": ["不是可选的值"], "products": ["不是可选的值"]}


@pytest.mark.parametrize("form", [None, [], "form", {"type": "default"}, {"components": {"a": 1}}])
def test_non_forms_are_one_problem(form):
    [problem] = check_form_definition(form, file="x.json")
    assert problem.element_id is None and "'components' list" in problem.message


def test_every_problem_is_reported_not_just_the_first():
    problems = _problems({"type": "textfield"}, {"type": "select", "key": "s", "validate": {"pattern": "("}}, 7)
    assert [p.element_id for p in problems] == [None, "s", "s", None]
    assert "is not an object" in problems[-1].message
