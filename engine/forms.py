"""Server-side validation of form-js submissions, and deploy-time checks of form definitions.

Forms are form-js schemas (``{"components": [...]}``) deployed with their process. The
browser validates too, but the server never trusts it: a marshmallow schema is built
from the deployed form and every submission is loaded through it. Errors come back as
``{field: [messages]}`` (zh-CN by default, en on request).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from engine.errors import DefinitionProblem, FormValidationError

DATA_TYPES = {"textfield", "textarea", "number", "checkbox", "select", "radio", "checklist", "taglist",
              "datetime", "group", "expression"}
LAYOUT_TYPES = {"text", "spacer", "separator", "image", "button", "html", "iframe", "table", "dynamiclist"}
CHOICE_TYPES = {"select", "radio", "checklist", "taglist"}

MESSAGES = {
    "zh-CN": {"required": "此项为必填项", "invalid": "格式不正确", "unknown": "未知字段", "choice": "不是可选的值",
              "length": "长度应在 {min} 到 {max} 之间", "range": "数值应在 {min} 到 {max} 之间",
              "pattern": "格式不符合要求", "object": "提交的数据必须是对象"},
    "en": {"required": "This field is required", "invalid": "Invalid value", "unknown": "Unknown field",
           "choice": "Not one of the allowed values", "length": "Length must be between {min} and {max}",
           "range": "Value must be between {min} and {max}", "pattern": "Does not match the required format",
           "object": "The submitted data must be an object"},
}


def _walk(components: list[Any]) -> Iterator[dict[str, Any]]:
    for component in components:
        if isinstance(component, dict):
            yield component
            if component.get("type") == "group" and not component.get("path"):
                yield from _walk(component.get("components") or [])


def check_form_definition(form: object, *, file: str) -> list[DefinitionProblem]:
    """Structural problems of a form-js schema, each naming the component (by id, else key)."""
    if not isinstance(form, dict) or not isinstance(form.get("components"), list):
        return [DefinitionProblem(file, None, None, "a form must be an object with a 'components' list")]
    return _check_components(form["components"], file)


def _check_components(components: list[Any], file: str) -> list[DefinitionProblem]:
    problems: list[DefinitionProblem] = []
    keys: set[str] = set()
    for component in _walk(components):
        ident = component.get("id") or component.get("key")
        kind, key = component.get("type"), component.get("key")

        def bad(message: str, ident: Any = ident, found: list[DefinitionProblem] = problems) -> None:
            found.append(DefinitionProblem(file, None, ident, message))

        if kind not in DATA_TYPES | LAYOUT_TYPES:
            bad(f"unknown component type {kind!r}")
            continue
        if kind == "group" and component.get("path"):
            problems += _check_components(component.get("components") or [], file)
        if kind in LAYOUT_TYPES or (kind == "group"):
            continue
        if not isinstance(key, str) or not key.isidentifier():
            bad(f"component key {key!r} must be a valid identifier (it becomes a process variable)")
            continue
        if key in keys:
            bad(f"duplicate key {key!r}")
        keys.add(key)
        rules = component.get("validate") or {}
        if kind in CHOICE_TYPES and not (component.get("values") or component.get("valuesKey")
                                         or component.get("valuesExpression")):
            bad(f"{kind} {key!r} needs 'values'")
        if "pattern" in rules:
            try:
                re.compile(str(rules["pattern"]))
            except re.error as exc:
                bad(f"pattern of {key!r} is not a valid regular expression: {exc}")
        for low, high in (("min", "max"), ("minLength", "maxLength")):
            if isinstance(rules.get(low), (int, float)) and isinstance(rules.get(high), (int, float)) \
                    and rules[low] > rules[high]:
                bad(f"{low} is greater than {high} for {key!r}")
    return problems


class _Iso(fields.Field):
    """Date/time/datetime that validates, then stays an ISO string (task data must be JSON)."""

    def __init__(self, parse: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parse = parse

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        try:
            return self.parse(str(value)).isoformat()
        except (TypeError, ValueError) as exc:
            raise ValidationError(self.error_messages["invalid"]) from exc


def _field(component: dict[str, Any], lang: str) -> fields.Field:
    text = MESSAGES.get(lang, MESSAGES["zh-CN"])
    rules = component.get("validate") or {}
    kind = component["type"]
    errors = {"required": text["required"], "invalid": text["invalid"], "null": text["required"]}
    checks: list[Any] = []
    if kind in ("textfield", "textarea"):
        if "minLength" in rules or "maxLength" in rules:
            checks.append(validate.Length(min=rules.get("minLength"), max=rules.get("maxLength"),
                                          error=text["length"].format(min=rules.get("minLength", 0),
                                                                      max=rules.get("maxLength", "∞"))))
        if rules.get("pattern"):
            checks.append(validate.Regexp(str(rules["pattern"]), error=text["pattern"]))
    if kind == "number" and ("min" in rules or "max" in rules):
        checks.append(validate.Range(min=rules.get("min"), max=rules.get("max"),
                                     error=text["range"].format(min=rules.get("min", "-∞"), max=rules.get("max", "∞"))))
    allowed = [v.get("value") for v in component.get("values") or [] if isinstance(v, dict)]
    if kind in ("select", "radio") and allowed:
        checks.append(validate.OneOf(allowed, error=text["choice"]))
    options: dict[str, Any] = {"required": bool(rules.get("required")), "validate": checks, "error_messages": errors,
               "allow_none": not rules.get("required")}
    if kind in ("textfield", "textarea"):
        return fields.String(**options)
    if kind == "number":
        return fields.Float(allow_nan=False, **options)
    if kind == "checkbox":
        return fields.Boolean(**options)
    if kind in ("checklist", "taglist"):
        inner = fields.Raw(validate=validate.OneOf(allowed, error=text["choice"])) if allowed else fields.Raw()
        return fields.List(inner, **options)
    if kind == "datetime":
        parse = {"date": date.fromisoformat, "time": time.fromisoformat}.get(component.get("subtype", ""),
                                                                             datetime.fromisoformat)
        return _Iso(parse, **options)
    return fields.Raw(**options)


def _schema_class(components: list[Any], lang: str) -> type[Schema]:
    attrs: dict[str, Any] = {}
    for component in _walk(components):
        kind = component.get("type")
        if kind == "group" and component.get("path"):
            nested = _schema_class(component.get("components") or [], lang)
            attrs[component["path"]] = fields.Nested(nested, required=False)
        elif kind in DATA_TYPES and kind != "group" and isinstance(component.get("key"), str):
            attrs[component["key"]] = _field(component, lang)
    attrs["Meta"] = type("Meta", (), {"unknown": RAISE})
    return Schema.from_dict(attrs)


_SCHEMAS: dict[tuple[str, str], type[Schema]] = {}


def build_schema(form: dict[str, Any], *, lang: str = "zh-CN") -> Schema:
    """A marshmallow schema for the form (classes cached by the form's content hash and language)."""
    digest = hashlib.sha256(json.dumps(form, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    key = (digest, lang)
    if key not in _SCHEMAS:
        if len(_SCHEMAS) > 512:
            _SCHEMAS.clear()
        _SCHEMAS[key] = _schema_class(form.get("components") or [], lang)
    return _SCHEMAS[key]()


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                flat.update(_flatten(value, name))
            else:
                flat[name] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return flat


def validate_submission(form: dict[str, Any], data: object, *, lang: str = "zh-CN") -> dict[str, Any]:
    """Cleaned, JSON-serializable data, or FormValidationError with ``{field: [messages]}``."""
    text = MESSAGES.get(lang, MESSAGES["zh-CN"])
    if not isinstance(data, dict):
        raise FormValidationError({"_schema": [text["object"]]})
    try:
        cleaned: dict[str, Any] = build_schema(form, lang=lang).load(data)
    except ValidationError as exc:
        errors = _flatten(exc.messages)
        for field, messages in errors.items():
            errors[field] = [text["unknown"] if m == "Unknown field." else m for m in messages]
        raise FormValidationError(errors) from exc
    return cleaned
