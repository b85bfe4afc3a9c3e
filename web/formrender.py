"""form-js schemas as plain HTML forms: fields to render, and the posted strings back to typed JSON.

The staff UI renders deployed form-js schemas on the server, so a task page works without scripts
and the server's validation messages (``engine.forms``) sit next to the right field. With scripts, the
page shows the same schema with form-js (``frontend/src/form-viewer.js``; :func:`localized` gives it
the page's language) and posts form-js's data as JSON in ``careflow_form_json`` (:func:`posted_json`);
the server validates either kind of post the same way. Choice values
keep their JSON type by travelling as JSON text (``true``, ``50000``, ``"phone"``); numbers are
parsed as numbers, an unticked checkbox is ``false``, a blank optional field is left out. Anything
that does not parse is passed on as the raw string, so the server's validation names the field.

Languages: the schema itself is Chinese (form-js ``label``, ``text`` and ``values[].label``), so the
form-js editor and the default zh UI show it unchanged. English lives beside it in the form's
top-level ``"careflow": {"labels_en": {...}}``, used when the UI language is ``en``:

- ``"<key>"``: a data field's label, e.g. ``"contact_method": "Contact method"``;
- ``"<key>=<value>"``: an option's label, the value written as it is for a string and as JSON
  otherwise, e.g. ``"contact_method=phone"``, ``"approved=true"``;
- ``"#<component id>"``: a read-only text component or a group's heading, e.g. ``"#Text_rules"``.

A missing entry falls back to the Chinese. Field descriptions are not rendered, so they need none.
``tests/unit/test_form_languages.py`` holds every form in ``forms/`` to this.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from engine import inputs

# JSON text posted in a form field is parsed only this deep (a recursive parser fails on deeper); the engine checks
# the submitted data again against CAREFLOW_JSON_MAX_DEPTH (engine.inputs).
MAX_DEPTH = 64
JSON_FIELD = "careflow_form_json"  # hidden input carrying form-js's data when the page's script ran
DATA_TYPES = frozenset({"textfield", "textarea", "number", "checkbox", "datetime", "select", "radio", "checklist",
                        "taglist"})


@dataclass(frozen=True)
class Field:
    path: str  # "key" or "group.key"
    kind: str
    label: str
    required: bool
    options: tuple[tuple[str, str], ...] = ()  # (JSON value, label)
    text: str = ""  # for "text" components (read-only content)
    attrs: dict[str, Any] = field(default_factory=dict)


def fields(form: Mapping[str, Any], lang: str = "zh-CN") -> list[Field]:
    """What to render, in order, labelled in ``lang`` ("zh"/"zh-CN" → the schema, "en" → ``labels_en``)."""
    return fields_of(localized(form, lang))


def fields_of(schema: Mapping[str, Any]) -> list[Field]:
    """What to render of a schema :func:`localized` already put in the page's language."""
    return list(_walk(schema.get("components") or [], ""))


def option_key(key: str, value: Any) -> str:
    """The ``labels_en`` entry of one option: ``"contact_method=phone"``, ``"approved=true"``."""
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"


def _walk(components: list[Any], prefix: str) -> Iterator[Field]:
    for component in components:
        kind = component.get("type")
        if kind == "group":
            if component.get("label"):
                yield Field(path="", kind="text", label="", required=False, text=str(component["label"]))
            path = component.get("path")
            yield from _walk(component.get("components") or [], f"{prefix}{path}." if path else prefix)
        elif kind == "text":
            yield Field(path="", kind="text", label="", required=False, text=str(component.get("text", "")))
        elif kind in DATA_TYPES:
            key = str(component.get("key"))
            rules = component.get("validate") or {}
            subtype = component.get("subtype", "date") if kind == "datetime" else ""
            options = tuple((json.dumps(o.get("value")), str(o.get("label", o.get("value"))))
                            for o in component.get("values") or [])
            attrs = {k: rules[k] for k in ("min", "max", "minLength", "maxLength") if rules.get(k) is not None}
            if subtype:
                attrs["subtype"] = subtype
            yield Field(path=prefix + key, kind=kind, label=str(component.get("label", key)),
                        required=bool(rules.get("required")), options=options, attrs=attrs)


def localized(form: Mapping[str, Any], lang: str = "zh-CN") -> dict[str, Any]:
    """The schema in ``lang``, for form-js and for :func:`fields`: a copy without the ``careflow`` block whose
    labels, option labels, texts and group headings are taken from ``labels_en`` in English (an entry that is
    missing keeps the Chinese; descriptions, which have no English, are left out)."""
    schema = copy.deepcopy(dict(form))
    labels_en = (schema.pop("careflow", None) or {}).get("labels_en", {})  # CareFlow's own block: not for form-js
    if lang.split("-")[0].lower() != "en":
        return schema

    def walk(components: list[Any]) -> None:
        for component in components:
            kind, own = component.get("type"), labels_en.get(f"#{component.get('id')}")
            if kind == "group":
                if own and component.get("label"):
                    component["label"] = own
                walk(component.get("components") or [])
            elif kind == "text" and own:
                component["text"] = own
            elif kind in DATA_TYPES:
                key = str(component.get("key"))
                if labels_en.get(key):
                    component["label"] = labels_en[key]
                component.pop("description", None)
                for option in component.get("values") or []:
                    if labels_en.get(option_key(key, option.get("value"))):
                        option["label"] = labels_en[option_key(key, option.get("value"))]

    walk(schema.get("components") or [])
    return schema


def posted_json(posted: MultiDict[str, str]) -> dict[str, Any] | None:
    """The submission form-js made in the browser (``careflow_form_json``), or None for a plain HTML post.
    Raises ValueError when it is not a JSON object."""
    raw = posted.get(JSON_FIELD)
    if raw is None:
        return None
    data = inputs.loads(raw, JSON_FIELD, MAX_DEPTH)
    if not isinstance(data, dict):
        raise ValueError("the form's data must be a JSON object")
    return data


def parse(form: Mapping[str, Any], posted: MultiDict[str, str]) -> dict[str, Any]:
    """The submission as form-js would send it: nested by group path, typed by component."""
    data: dict[str, Any] = {}
    for spec in fields(form):
        if spec.kind == "text":
            continue
        value = _value(spec, posted)
        if value is _ABSENT:
            continue
        target = data
        *parents, leaf = spec.path.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return data


_ABSENT = object()


def _value(spec: Field, posted: MultiDict[str, str]) -> Any:
    if spec.kind == "checkbox":
        return spec.path in posted
    if spec.kind in ("checklist", "taglist"):
        return [_json(v) for v in posted.getlist(spec.path)]
    raw = posted.get(spec.path, "")
    if raw.strip() == "":
        return "" if spec.required else _ABSENT  # required: let the server say "required"
    if spec.kind in ("select", "radio"):
        return _json(raw)
    if spec.kind == "number":
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(number) if number.is_integer() and "." not in raw else number
    return raw


def _json(raw: str) -> Any:
    try:
        return inputs.loads(raw, "option", MAX_DEPTH)
    except ValueError:  # InvalidInputError is not one: a hostile option value is refused, not taken as text
        return raw


def current_values(data: Mapping[str, Any] | None, posted: MultiDict[str, str] | None) -> dict[str, list[str]]:
    """What each input shows, per path: every accepted spelling of the current value.

    After a failed submit that is the posted text (and, for choices, the JSON text the option
    carries); otherwise the task's data, as plain text and as JSON, so the template can match text
    inputs and choice options alike.
    """
    if posted is not None:
        return {key: posted.getlist(key) for key in posted}
    shown: dict[str, list[str]] = {}

    def flatten(values: Mapping[str, Any], prefix: str) -> None:
        for key, value in values.items():
            if isinstance(value, dict):
                flatten(value, f"{prefix}{key}.")
            elif isinstance(value, list):
                shown[prefix + key] = [json.dumps(v) for v in value]
            elif isinstance(value, str):
                shown[prefix + key] = [value, json.dumps(value)]
            else:
                shown[prefix + key] = [json.dumps(value)]

    flatten(data or {}, "")
    return shown
