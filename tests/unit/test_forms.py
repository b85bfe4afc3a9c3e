"""Server-side form validation from form-js definitions."""

from __future__ import annotations

import pytest

from engine.errors import FormValidationError
from engine.forms import check_form_definition, validate_submission

FORM = {
    "type": "default", "id": "complaint_intake",
    "components": [
        {"type": "textfield", "key": "customer_name", "id": "f1", "validate": {"required": True, "minLength": 2,
                                                                              "maxLength": 50}},
        {"type": "textfield", "key": "phone", "validate": {"pattern": r"^1\d{10}$"}},
        {"type": "select", "key": "channel", "values": [{"label": "电话", "value": "phone"},
                                                        {"label": "网点", "value": "branch"}]},
        {"type": "number", "key": "amount", "validate": {"min": 0}},
        {"type": "textarea", "key": "description", "validate": {"required": True, "maxLength": 2000}},
        {"type": "checkbox", "key": "agree"},
        {"type": "datetime", "key": "visit_on", "subtype": "date"},
        {"type": "group", "path": "address", "components": [{"type": "textfield", "key": "city"}]},
        {"type": "text", "text": "说明"},
    ],
}


def test_valid_submission_is_cleaned():
    data = {"customer_name": "王芳", "phone": "13800138000", "channel": "phone", "amount": 1200.5,
            "description": "转账未到账", "agree": True, "visit_on": "2025-03-04", "address": {"city": "上海"}}
    assert validate_submission(FORM, data) == data


def test_errors_name_each_field_in_chinese_by_default():
    with pytest.raises(FormValidationError) as info:
        validate_submission(FORM, {"customer_name": "王", "phone": "123", "channel": "fax", "amount": -1,
                                   "visit_on": "tomorrow", "address": {"city": 5}, "extra": 1})
    errors = info.value.errors
    assert set(errors) == {"customer_name", "phone", "channel", "amount", "visit_on", "address.city",
                           "description", "extra"}
    assert errors["description"] == ["此项为必填项"] and errors["extra"] == ["未知字段"]


def test_english_messages_and_wrong_types():
    with pytest.raises(FormValidationError) as info:
        validate_submission(FORM, {"customer_name": ["x"], "description": "ok", "amount": "lots"}, lang="en")
    assert set(info.value.errors) == {"customer_name", "amount"}
    with pytest.raises(FormValidationError) as info:
        validate_submission(FORM, ["not", "an", "object"], lang="en")
    assert info.value.errors == {"_schema": ["The submitted data must be an object"]}


@pytest.mark.parametrize(
    ("component", "element", "fragment"),
    [({"type": "textfield", "id": "a"}, "a", "valid identifier"),
     ({"type": "textfield", "key": "not valid"}, "not valid", "valid identifier"),
     ({"type": "wizard", "key": "x"}, "x", "unknown component type"),
     ({"type": "select", "key": "s"}, "s", "needs 'values'"),
     ({"type": "textfield", "key": "p", "validate": {"pattern": "("}}, "p", "regular expression"),
     ({"type": "number", "key": "n", "validate": {"min": 5, "max": 1}}, "n", "greater than")],
)
def test_definition_problems_name_the_component(component, element, fragment):
    [problem] = check_form_definition({"components": [component]}, file="f.json")
    assert problem.element_id == element and fragment in problem.message and problem.file == "f.json"


def test_duplicate_keys_and_non_forms_are_reported():
    twice = {"components": [{"type": "textfield", "key": "a"}, {"type": "number", "key": "a"}]}
    assert "duplicate" in check_form_definition(twice, file="f.json")[0].message
    assert check_form_definition([1, 2], file="f.json")[0].message.startswith("a form must be")
