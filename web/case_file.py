"""The case file on the task page, in words: section headings, labels of facts, coded values and submissions.

The engine gives keys and codes (``engine.casefile``); this module is the one place that words them in the
page's language (the catalogue: ``web/translations``). A submission is shown with the labels and option labels
of the form it was submitted on (``web.formrender``), read-only, with what changed since the round before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.casefile.model import Fact, Submission
from engine.complaints import codes
from web import formrender, labels
from web.engine_access import current_engine
from web.i18n import current_language

SECTIONS = {
    "complaint_case": _l("The complaint"), "complaint_timeline": _l("Case timeline"),
    "customer_summary": _l("Customer"), "suitability": _l("Suitability"), "last_contacts": _l("Last contacts"),
    "earlier_decisions": _l("Earlier decisions"), "customer": _l("Customer"),
}

LABELS = {
    "case_no": _l("Case number"), "complaint_status": _l("Case status"), "channel": _l("Channel"),
    "template": _l("Message"), "message_channel": _l("Sent by"),
    "business_type": _l("Business"), "cause": _l("Cause"), "received_at": _l("Received"),
    "target_due_on": _l("Target date"), "legal_due_on": _l("Legal due date"),
    "regulator_due_on": _l("Regulator's reply date"), "extension": _l("Extension"), "complainant": _l("Complainant"),
    "complainant_phone": _l("Phone"), "customer_id": _l("Customer number"), "group_size": _l("People complaining"),
    "summary": _l("Summary"), "facts": _l("Facts"), "request": _l("Customer's request"),
    "amount": _l("Amount in dispute"), "decision": _l("Decision"), "answer": _l("Answer"),
    "satisfaction": _l("Satisfaction"), "satisfaction_comment": _l("Customer's comment"),
    "review_requested_at": _l("Review requested"), "review_reason": _l("Reason for the review"),
    "review_due_on": _l("Review due by"), "customer_name": _l("Name"), "tier": _l("Tier"),
    "manager": _l("Customer manager"), "branch": _l("Branch"), "phone": _l("Phone"), "age": _l("Age"),
    "preferred_channel": _l("Preferred channel"), "do_not_disturb": _l("Do not disturb"),
    "marketing_consent": _l("Marketing consent"), "risk_level": _l("Risk tolerance"),
    "risk_valid_until": _l("Assessment valid until"), "risk_expired": _l("Assessment expired"),
    "product": _l("Product"), "lead_reason": _l("Why this lead"), "suitability_decision": _l("Suitability result"),
    "handler": _l("Handler"), "approved_by": _l("Approved by"), "new_target_on": _l("New target date"),
    "score": _l("Score"), "result": _l("Result"), "action": _l("Decision"), "reason": _l("Reason"),
    "severity": _l("Severity"), "message_status": _l("Status"), "recorded_by": _l("Recorded for the customer by"),
    "evidence": _l("Evidence"), "evidence_reference": _l("Recording, letter or slip number"),
}

CHOICES: dict[str, dict[str, Any]] = {
    "complaint_status": {
        "received": _l("Case received"), "acknowledged": _l("Acknowledged"), "investigating": _l("Being investigated"),
        "awaiting_approval": _l("Answer awaiting approval"), "answered": _l("Answer sent"), "closed": _l("Closed"),
        "reopened": _l("Reopened"), "under_review": _l("Under review"), "withdrawn": _l("Withdrawn"),
        "merged": _l("Merged"),
    },
    "extension": {"complex": _l("Complex: 30 days from receipt"), "special": _l("Especially complex: 60 days")},
    "decision": {"upheld": _l("Upheld"), "partly": _l("Partly upheld"), "rejected": _l("Not upheld")},
    "review_result": {"maintained": _l("Original decision stands"), "changed": _l("Decision changed")},
    "reopen_action": {"reinvestigate": _l("Reinvestigate"), "maintain": _l("Keep the original answer")},
    "close_reason": {"reviewed": _l("Reviewed"), "satisfied": _l("Customer satisfied"),
                     "review_window_passed": _l("Review window passed")},
    "severity": {"normal": _l("Normal"), "high": _l("High"), "major": _l("Major")},
    "evidence": {"phone": _l("recorded phone call"), "letter": _l("letter"), "counter": _l("signed counter slip")},
    "tier": {"mass": _l("Mass"), "gold": _l("Gold"), "platinum": _l("Platinum"), "diamond": _l("Diamond"),
             "private": _l("Private banking")},
    "channel": {"sms": _l("SMS"), "email": _l("E-mail"), "wechat": _l("WeChat"), "inapp": _l("In-app")},
    "suitability": {"allow": _l("Suitable"), "block": _l("Not suitable: blocked"),
                    "allow_with_extra_steps": _l("Suitable with extra care")},
    "message_status": {"pending": _l("Waiting"), "sending": _l("Sending"), "sent": _l("Sent"),
                       "suppressed": _l("Not sent (consent or rules)"), "dead": _l("Failed")},
}


def value_text(fact: Fact) -> str:
    """A fact's value in words for the page's language."""
    value, kind = fact.value, fact.kind
    if value is None or value == "":
        return "—"
    if kind == "yesno" or isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if kind.startswith("code:"):
        found = codes.AXES[kind[5:]].get(str(value))
        return (found.en if current_language() == "en" else found.zh) if found else str(value)
    if kind.startswith("choice:"):
        return str(CHOICES.get(kind[7:], {}).get(str(value), value))
    if kind.startswith("label:"):  # a code family of web.labels (message templates, channels...)
        return labels.label(value, kind[6:])
    if kind == "money" and isinstance(value, (Decimal, int, float)):
        return f"¥{Decimal(value):,.2f}"
    if isinstance(value, datetime):
        return value.astimezone(current_engine().settings.zone).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def choice(name: str, value: str) -> str:
    """A value of one of the small closed sets above (a case's status...) in words."""
    return value_text(Fact(name, value, f"choice:{name}"))


def label(key: str) -> str:
    return str(LABELS.get(key, key))


def section_title(name: str) -> str:
    return str(SECTIONS.get(name, name))


@dataclass(frozen=True)
class Line:
    """One field of a submission, read-only: its label, its value in words, and the value of the round before."""

    key: str
    label: str
    value: str
    changed: bool = False
    before: str | None = None
    long: bool = False  # a text area: shown across the whole width


def _choice_text(field: formrender.Field, value: Any) -> str:
    wanted = [value] if not isinstance(value, list) else value
    labels = dict(field.options)
    return "、".join(labels.get(json.dumps(v), str(v)) for v in wanted)


def _text(field: formrender.Field | None, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if field is not None and field.options:
        return _choice_text(field, value)
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    return str(value)


def lines(submission: Submission) -> list[Line]:
    """The submission's fields in the form's order with the form's labels (then any key the form does not name)."""
    known = [f for f in formrender.fields(submission.form, current_language())
             if f.kind != "text" and f.path] if submission.form else []
    by_key = {f.path: f for f in known}
    keys = [f.path for f in known if f.path in submission.data or (
        submission.previous is not None and f.path in submission.previous)]
    keys += [k for k in submission.data if k not in by_key]
    changed = set(submission.changed)
    found = []
    for key in keys:
        field = by_key.get(key)
        before = submission.previous.get(key) if submission.previous is not None else None
        if submission.data.get(key) in (None, "") and key not in changed:
            continue  # an optional field left empty says nothing
        found.append(Line(key, field.label if field else key, _text(field, submission.data.get(key)),
                          key in changed, _text(field, before) if key in changed else None,
                          field is not None and field.kind == "textarea"))
    return found


def helpers() -> dict[str, Any]:
    """What the case-file templates call."""
    return {"fact_label": label, "fact_value": value_text, "section_title": section_title, "submission_lines": lines,
            "choice": choice}
