"""Deploy problems in the page's language: CareFlow's own checks (engine.bpmn.validation) carry a code and
parameters; their text comes from the catalogue here (message ids = the engine's English texts, one per code).
Problems from the BPMN parser itself have no code and keep their English message."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from engine.bpmn.validation import render
from engine.errors import DefinitionProblem

TEXTS = {
    "unknown_attribute": _l("unknown CareFlow attribute careflow:%(name)s"),
    "unknown_element": _l("unknown CareFlow element careflow:%(name)s"),
    "unknown_property": _l("unknown CareFlow property '%(name)s'"),
    "no_incoming": _l("%(kind)s '%(id)s' has no incoming sequence flow: it can never be reached"),
    "no_outgoing": _l("%(kind)s '%(id)s' has no outgoing sequence flow; end the path with an end event"),
    "message_unsent": _l("nobody sends message '%(name)s': it is not thrown in this process, not sent by CareFlow and no intake client is granted it"),  # noqa: E501
    "due_in": _l("dueIn '%(value)s' is not an ISO 8601 duration (e.g. P3D, PT4H): %(why)s"),
    "priority_number": _l("priority '%(value)s' must be a whole number from 0 to 100"),
    "priority_range": _l("priority %(value)s is out of range 0–100"),
    "nobody_named": _l("nobody can claim this task: candidateGroups and candidateUsers are empty"),
    "group_unknown": _l("candidate group '%(name)s' does not exist"),
    "lane_unknown": _l("lane '%(name)s' (its candidate group) does not exist"),
    "group_empty": _l("candidate group '%(name)s' has no active member"),
    "lane_empty": _l("lane '%(name)s' (its candidate group) has no active member"),
    "user_unknown": _l("candidate user '%(name)s' does not exist or is not active"),
    "nobody_today": _l("nobody can claim this task today: none of its candidates is an active user"),
    "field_typo": _l("reads '%(name)s', which nothing in this process sets (form '%(form)s' has a field like it)"),
    "did_you_mean": _l("; did you mean %(suggestion)s?"),
    "known": _l("; known: %(known)s"),
}


def localized(problem: DefinitionProblem) -> dict[str, Any]:
    """The problem as the API shows it, its message in the request's language."""
    body = problem.to_dict()
    if problem.code in TEXTS:
        body["message"] = render(problem.code, dict(problem.params), {k: str(v) for k, v in TEXTS.items()})
    return body
