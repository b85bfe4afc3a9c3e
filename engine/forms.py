"""Server-side validation of form-js submissions, and deploy-time checks of form definitions.

User tasks name a form by key; the form is a bpmn.io form-js schema (``{"components": [...]}``)
deployed with its process. The browser validates too, but a bank cannot trust the browser: a
marshmallow schema is built from the *deployed* form and every submission is loaded through it
before it becomes task data. Errors are ``{"field" or "group.field": [messages]}`` in zh-CN (the
staff UI's language) or English, for the UI to show next to fields and the API to return as 422.
Unknown top-level keys of a form are tolerated, e.g. CareFlow's ``careflow.labels_en``: the English
for a schema written in Chinese (field, option, text and group labels; see ``web/formrender.py``).

Rules follow form-js so the server does not reject what the browser rightly accepted: blank text,
an empty list and an unticked checkbox do not satisfy ``required``; length and pattern rules skip
empty text; ``pattern`` is searched like JavaScript's ``RegExp.test``. A component with a
``conditional`` (hide expression) is never required here, because form-js leaves hidden fields out
and the server cannot evaluate FEEL; its value is still type-checked when sent.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from engine.errors import DefinitionProblem, FormValidationError

CHOICE_TYPES = frozenset({"select", "radio", "checklist", "taglist"})
DATA_TYPES = frozenset({"textfield", "textarea", "number", "checkbox", "datetime"}) | CHOICE_TYPES
LAYOUT_TYPES = frozenset({"text", "spacer", "separator", "image", "button"})
KNOWN_TYPES = DATA_TYPES | LAYOUT_TYPES | {"group"}
DATETIME_SUBTYPES = ("date", "time", "datetime")
SCHEMA_CACHE_SIZE = 256
_EMAIL = re.compile(r"^[\w.\-]+@([\w\-]+\.)+[\w\-]{2,}$")  # form-js validate.validationType "email"

_MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "summary": "表单填写有误，请检查标出的字段", "object": "应为对象", "unknown": "未知字段", "required": "此项为必填项",
        "text": "应为文本", "number": "应为数字", "boolean": "应为是或否", "list": "应为列表", "choice": "不是可选的值",
        "date": "日期格式应为 YYYY-MM-DD", "time": "时间格式应为 HH:MM", "datetime": "日期时间格式应为 YYYY-MM-DDTHH:MM",
        "pattern": "格式不正确", "email": "不是有效的电子邮件地址", "length_range": "长度应在 {min} 到 {max} 个字符之间",
        "length_min": "至少需要 {min} 个字符", "length_max": "不能超过 {max} 个字符", "range": "应在 {min} 到 {max} 之间",
        "min": "不能小于 {min}", "max": "不能大于 {max}", "digits": "最多保留 {digits} 位小数",
    },
    "en": {
        "summary": "The form has errors", "object": "Must be an object", "unknown": "Unknown field",
        "required": "This field is required", "text": "Must be text", "number": "Must be a number",
        "boolean": "Must be true or false", "list": "Must be a list", "choice": "Not one of the allowed options",
        "date": "Date must look like YYYY-MM-DD", "time": "Time must look like HH:MM",
        "datetime": "Date and time must look like YYYY-MM-DDTHH:MM", "pattern": "Does not match the required format",
        "email": "Not a valid email address", "length_range": "Must be between {min} and {max} characters long",
        "length_min": "Must be at least {min} characters long", "length_max": "Must be at most {max} characters long",
        "range": "Must be between {min} and {max}", "min": "Must be at least {min}", "max": "Must be at most {max}",
        "digits": "At most {digits} decimal digits are allowed",
    },
}


def _language(lang: str) -> str:
    """"en", "en-US", "en_GB" → "en"; anything else falls back to zh-CN, the staff UI's language."""
    return "en" if lang.replace("_", "-").split("-")[0].lower() == "en" else "zh-CN"


def messages(lang: str) -> dict[str, str]:
    """The validation messages in ``lang`` (``{min}``/``{max}``/``{digits}`` placeholders), for a browser-side
    check that must speak like this one (the task page's form-js)."""
    return dict(_MESSAGES[_language(lang)])


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_form_definition(form: object, *, file: str) -> list[DefinitionProblem]:
    """Structural problems of a form-js schema, each naming the component (its ``id``, else its ``key``).

    Run at deploy time so a broken form is refused with its process instead of failing the first
    person who opens the task. Keys become task-data variables read by process scripts, so they must
    be Python identifiers (no keywords, no leading ``_``) and unique within their data scope.
    """
    if not isinstance(form, dict) or not isinstance(form.get("components"), list):
        return [DefinitionProblem(file, None, None, "a form must be a JSON object with a 'components' list")]
    return _check_scope(form["components"], file, set())


def _check_scope(components: list[Any], file: str, keys: set[str]) -> list[DefinitionProblem]:
    problems: list[DefinitionProblem] = []
    for component in components:
        if not isinstance(component, dict):
            problems.append(DefinitionProblem(file, None, None, f"component {str(component)[:40]!r} is not an object"))
            continue
        kind, key, children, path = (component.get(name) for name in ("type", "key", "components", "path"))
        ident = component.get("id") or key
        found: list[str] = []
        if not isinstance(kind, str) or kind not in KNOWN_TYPES:
            found.append(f"unknown component type {kind!r}")
        elif kind == "group" and not isinstance(children, list):
            found.append("a group needs a 'components' list")
        elif kind == "group" and not path:  # only layout: its fields belong to the enclosing scope
            problems += _check_scope(component["components"], file, keys)
        elif kind == "group":  # a group with a path holds its fields in an object under that name
            found += _check_name(path, keys, "path")
            problems += _check_scope(component["components"], file, set())
        elif kind in DATA_TYPES:
            found += _check_name(key, keys, "key") + _check_rules(component, kind)
        problems += [DefinitionProblem(file, None, None if ident is None else str(ident), m) for m in found]
    return problems


def _check_name(name: object, keys: set[str], what: str) -> list[str]:
    if name is None or name == "":
        return [f"a data component needs a non-empty '{what}'"]
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        return [f"{what} {name!r} is not a valid identifier (it becomes a process variable; no leading '_')"]
    if name in keys:
        return [f"duplicate {what} {name!r} in the same data scope"]
    keys.add(name)
    return []


def _check_rules(component: dict[str, Any], kind: str) -> list[str]:
    rules = component.get("validate") or {}
    if not isinstance(rules, dict):
        return ["'validate' must be an object"]
    found: list[str] = []
    values = component.get("values")
    if kind in CHOICE_TYPES and not (component.get("valuesKey") or component.get("valuesExpression")):
        if not isinstance(values, list) or not values:
            found.append(f"{kind} needs a 'values' list (or 'valuesKey' / 'valuesExpression')")
        elif not all(isinstance(option, dict) and "value" in option for option in values):
            found.append("every entry of 'values' needs a 'value'")
    pattern = rules.get("pattern")
    try:
        re.compile(pattern if isinstance(pattern, str) else "")
        found += [] if pattern is None or isinstance(pattern, str) else ["validate.pattern must be a string"]
    except re.error as exc:
        found.append(f"validate.pattern {pattern!r} is not a valid (Python) regular expression: {exc}")
    for low, high in (("min", "max"), ("minLength", "maxLength")):
        found += [f"validate.{name} must be a number" for name in (low, high) if rules.get(name) is not None
                  and not _is_number(rules[name])]
        if _is_number(rules.get(low)) and _is_number(rules.get(high)) and rules[low] > rules[high]:
            found.append(f"validate.{low} ({rules[low]}) is greater than validate.{high} ({rules[high]})")
    digits = component.get("decimalDigits")
    if digits is not None and not (isinstance(digits, int) and not isinstance(digits, bool) and digits >= 0):
        found.append("decimalDigits must be a non-negative integer")
    if kind == "datetime" and component.get("subtype", "date") not in DATETIME_SUBTYPES:
        found.append(f"datetime subtype must be one of {', '.join(DATETIME_SUBTYPES)}")
    return found


class _FormSchema(Schema):
    """Base of generated schemas: unknown keys are errors; generated classes stay out of marshmallow's
    global class registry (there is one class per deployed form and language)."""

    class Meta:
        unknown = RAISE
        register = False

    required_groups: tuple[str, ...] = ()

    @pre_load
    def _open_required_groups(self, data: Any, **kwargs: Any) -> Any:
        """A missing group holding required fields becomes ``{}``: errors then land on ``group.field``,
        next to the fields, instead of on the group, which the UI does not show as a field."""
        if isinstance(data, dict) and any(path not in data for path in self.required_groups):
            return {**{path: {} for path in self.required_groups}, **data}
        return data


class _Number(fields.Field):
    """JSON numbers only (strings only with form-js ``serializeToString``; never booleans), returned as
    sent (int, float or string) so task data stays JSON. Decimal is used to count decimal digits."""

    default_error_messages = {"invalid": "Not a valid number.", "digits": "Too many decimal digits."}

    def __init__(self, *, digits: int | None, as_string: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.digits, self.as_string = digits, as_string

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | float | str:
        if isinstance(value, bool) or not isinstance(value, (int, float, str if self.as_string else int)):
            raise self.make_error("invalid")
        value = value.strip() if isinstance(value, str) else value
        try:
            exponent = Decimal(str(value)).as_tuple().exponent
        except InvalidOperation:
            raise self.make_error("invalid") from None
        if not isinstance(exponent, int):  # NaN or infinity: not a JSON number
            raise self.make_error("invalid")
        if self.digits is not None and -exponent > self.digits:
            raise self.make_error("digits", digits=self.digits)
        return value


class _Checkbox(fields.Boolean):
    """Only JSON true/false: marshmallow's Boolean would also take 1, "yes" or "on"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _iso_field(base: type[fields.Field]) -> type[fields.Field]:
    """marshmallow's Date/Time/DateTime parsing, handing back an ISO string because task data must be
    JSON; whole minutes are written as form-js writes them ("11:30", "2025-03-04T11:30")."""

    def deserialize(self: fields.Field, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        parsed: date | time = base._deserialize(self, value, attr, data, **kwargs)
        if isinstance(parsed, date) and not isinstance(parsed, datetime):
            return parsed.isoformat()
        return parsed.isoformat(timespec="minutes" if parsed.second == parsed.microsecond == 0 else "auto")

    return type(f"Iso{base.__name__}", (base,), {"_deserialize": deserialize})


_DATETIME_FIELDS = {"date": _iso_field(fields.Date), "time": _iso_field(fields.Time), "datetime": _iso_field(fields.DateTime)}


class _OneOf(validate.OneOf):
    """OneOf without Python's ``1 == True``: a radio with values true/false must not accept 1 or 0."""

    def __call__(self, value: Any) -> Any:
        if not any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in self.choices):
            raise ValidationError(self._format_error(value))
        return value


def _check(test: Callable[[Any], object], message: str, *, skip_blank: bool = False) -> Callable[[Any], None]:
    def run(value: Any) -> None:
        if not (skip_blank and value == "") and not test(value):
            raise ValidationError(message)
    return run


def _filled(value: Any, kind: str) -> bool:
    """form-js's ``required``: blank text, an empty list and an unticked checkbox are not answers."""
    return value != [] and not (isinstance(value, str) and not value.strip()) and not (kind == "checkbox" and value is False)


def _field(component: dict[str, Any], text: dict[str, str]) -> fields.Field:
    kind, rules = component["type"], component.get("validate") or {}
    required = bool(rules.get("required")) and not component.get("conditional")
    checks: list[Callable[[Any], Any]] = [_check(lambda v: _filled(v, kind), text["required"])] if required else []
    low, high = (rules.get(name + ("" if kind == "number" else "Length")) for name in ("min", "max"))
    if (low is not None or high is not None) and kind in ("number", "textfield", "textarea"):
        bound = "range" if low is not None and high is not None else "min" if low is not None else "max"
        if kind == "number":  # compared as Decimal: exact for amounts, and works for serializeToString values
            in_range = validate.Range(None if low is None else Decimal(str(low)), None if high is None else Decimal(str(high)),
                                      error=text[bound])
            checks.append(lambda v: in_range(Decimal(str(v))))
        else:
            in_length = validate.Length(low, high, error=text[f"length_{bound}"])
            checks.append(lambda v: v == "" or in_length(v))
    if isinstance(rules.get("pattern"), str) and kind in ("textfield", "textarea"):
        checks.append(_check(re.compile(rules["pattern"]).search, text["pattern"], skip_blank=True))
    if rules.get("validationType") == "email" and kind == "textfield":
        checks.append(_check(_EMAIL.match, text["email"], skip_blank=True))
    messages: dict[str, Any] = {"required": text["required"], "null": text["required"]}
    options: dict[str, Any] = {"required": required, "allow_none": not required, "validate": checks,
                               "metadata": {"form_type": kind, "label": component.get("label")}}
    allowed = [option["value"] for option in component.get("values") or [] if isinstance(option, dict)]
    item = _OneOf(allowed, error=text["choice"]) if allowed else _check(  # options from data: scalars only
        lambda v: isinstance(v, (str, int, float, bool)), text["choice"])
    if kind in ("textfield", "textarea"):
        return fields.String(error_messages={**messages, "invalid": text["text"]}, **options)
    if kind == "number":
        return _Number(digits=component.get("decimalDigits"), as_string=bool(component.get("serializeToString")),
                       error_messages={**messages, "invalid": text["number"], "digits": text["digits"]}, **options)
    if kind == "checkbox":
        return _Checkbox(error_messages={**messages, "invalid": text["boolean"]}, **options)
    if kind in ("select", "radio"):
        return fields.Raw(error_messages=messages, **{**options, "validate": [*checks, item]})
    if kind in ("checklist", "taglist"):
        return fields.List(fields.Raw(validate=item), error_messages={**messages, "invalid": text["list"]}, **options)
    subtype = component.get("subtype", "date")
    return _DATETIME_FIELDS[subtype](error_messages={**messages, "invalid": text[subtype], "format": text[subtype]}, **options)


def _schema_class(components: object, text: dict[str, str]) -> tuple[type[Schema], bool]:
    """The schema class for one data scope, and whether anything in it is required. Path-less groups are
    looked through (their fields belong here); a group with a ``path`` becomes a Nested schema."""
    attrs: dict[str, Any] = {"error_messages": {"unknown": text["unknown"], "type": text["object"]}}
    groups: list[str] = []
    any_required = False
    for component in _data_components(components):
        if component["type"] == "group":
            nested, required = _schema_class(component.get("components"), text)
            attrs[component["path"]] = fields.Nested(nested, allow_none=not required, error_messages={"null": text["required"]})
            groups += [component["path"]] if required else []
        else:
            attrs[component["key"]] = field = _field(component, text)
            required = field.required
        any_required = any_required or required
    attrs["required_groups"] = tuple(groups)
    return type("GeneratedFormSchema", (_FormSchema,), attrs), any_required


def _data_components(components: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for component in components if isinstance(components, list) else []:
        kind = component.get("type") if isinstance(component, dict) and isinstance(component.get("type"), str) else None
        if kind == "group" and not component.get("path"):
            found += _data_components(component.get("components"))
        elif (kind == "group" and isinstance(component["path"], str)) or (
                kind in DATA_TYPES and isinstance(component.get("key"), str)):
            found.append(component)
    return found


_SCHEMAS: OrderedDict[tuple[str, str], type[Schema]] = OrderedDict()
_SCHEMAS_LOCK = threading.Lock()
_THREAD = threading.local()


def schema_instance(schema_class: type[Schema]) -> Schema:
    """This thread's instance of ``schema_class``. Building one deep-copies every declared field, which cost more
    than validating a submission; an instance loads one thing at a time, so each thread keeps its own."""
    instances: dict[type[Schema], Schema] = _THREAD.__dict__.setdefault("schemas", {})
    instance = instances.get(schema_class)
    if instance is None:
        if len(instances) >= 2 * SCHEMA_CACHE_SIZE:  # classes of redeployed forms drop out here too
            instances.clear()
        instance = instances[schema_class] = schema_class()
    return instance


def build_schema(form: dict[str, Any], *, lang: str = "zh-CN") -> Schema:
    """A marshmallow schema for a deployed (checked) form, with messages in ``lang``.

    Classes are cached per (sha256 of the canonical form JSON, language), LRU-bounded by
    ``SCHEMA_CACHE_SIZE``: equal forms share a class however their dicts were built, and a changed,
    redeployed form gets its own. Instances are per thread (:func:`schema_instance`): none is shared by threads.
    """
    language = _language(lang)
    canonical = json.dumps(form, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    key = (hashlib.sha256(canonical.encode("utf-8")).hexdigest(), language)
    with _SCHEMAS_LOCK:
        schema_class = _SCHEMAS.get(key)
        if schema_class is not None:
            _SCHEMAS.move_to_end(key)
    if schema_class is None:
        schema_class, _ = _schema_class(form.get("components"), _MESSAGES[language])
        with _SCHEMAS_LOCK:
            _SCHEMAS[key] = schema_class
            while len(_SCHEMAS) > SCHEMA_CACHE_SIZE:
                _SCHEMAS.popitem(last=False)
    return schema_instance(schema_class)


def _flatten(messages: object, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested errors → ``{"group.field": [...]}``. A list item's error and a group's own
    ``_schema`` error go to the field or group itself: that is where the UI can show them."""
    if not isinstance(messages, dict):
        return {prefix or "_schema": [str(m) for m in (messages if isinstance(messages, list) else [messages])]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = prefix if key == "_schema" or isinstance(key, int) else f"{prefix}.{key}" if prefix else str(key)
        for field, found in _flatten(value, name).items():
            known = flat.setdefault(field, [])
            known += [m for m in found if m not in known]
    return flat


def validate_submission(form: dict[str, Any], data: object, *, lang: str = "zh-CN") -> dict[str, object]:
    """The cleaned, JSON-serializable submission, or :class:`FormValidationError` with ``{field: [messages]}``
    (dotted keys for fields in a group with a ``path``; ``_schema`` when ``data`` is not an object).

    Absent optional fields stay absent (they do not become nulls in task data); dates and times come
    back as ISO strings and numbers as the int or float sent.
    """
    text = _MESSAGES[_language(lang)]
    if not isinstance(data, dict):
        raise FormValidationError({"_schema": [text["object"]]}, text["summary"])
    try:
        cleaned: dict[str, object] = build_schema(form, lang=lang).load(data)
    except ValidationError as exc:
        raise FormValidationError(_flatten(exc.messages), text["summary"]) from exc
    return cleaned
