"""Human labels for every code a page shows, and numbers formatted for people — the one place for both.

The engine stores stable codes (``awaiting_approval``, ``task.claim``, ``mobile_app``, ``birthday_greeting``);
a person reads a label in the page's language. Each code family is a dict of lazy gettext messages, so the
labels live in the same catalogue as the rest of the UI (``web/translations``; ``tests/web/test_i18n.py`` fails
on a missing translation, ``tests/web/test_labels.py`` on a family without Chinese or a page that shows a code).
Templates write ``{{ task.status|label("task_status") }}``; views and CSV exports call :func:`label`.

Process and element names are not codes: they are what the designer wrote, in the BPMN file. The convention
(``docs/bpmn-conventions.md``) is the Chinese name in ``name`` and the English one in the ``name_en``
property; :func:`one_language` also shows the older "中文 English" names in one language.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import format_compact_currency, format_currency, format_decimal, format_percent
from flask import Flask, g
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from web.i18n import current_language

TASK_STATUS = {"open": _l("Waiting to be claimed"), "claimed": _l("In progress"), "completed": _l("Completed"),
               "cancelled": _l("Cancelled")}
INSTANCE_STATUS = {"running": _l("Running"), "completed": _l("Completed"), "cancelled": _l("Cancelled"),
                   "error": _l("Failed: waits for a supervisor")}
COMPLAINT_STATUS = {
    "received": _l("New case"), "acknowledged": _l("Acknowledged"), "investigating": _l("Being investigated"),
    "awaiting_approval": _l("Awaiting approval"), "answered": _l("Answer sent"), "closed": _l("Closed"),
    "reopened": _l("Reopened"), "under_review": _l("Under review"), "withdrawn": _l("Withdrawn"),
    "merged": _l("Merged"),
}
MESSAGE_STATUS = {"pending": _l("Waiting to be sent"), "sending": _l("Sending"), "sent": _l("Sent"),
                  "suppressed": _l("Not sent (rules)"), "dead": _l("Failed for good"),
                  "held": _l("Held after a restore")}
CUSTOMER_STATUS = {"active": _l("Active"), "dormant": _l("Dormant"), "deceased": _l("Deceased"),
                   "closed": _l("Closed"), "erased": _l("Personal data erased")}
ROLE = {"staff": _l("Staff"), "supervisor": _l("Supervisor"), "designer": _l("Workflow designer"),
        "compliance": _l("Compliance"), "admin": _l("Administrator"), "customer": _l("Customer")}
TIER = {"mass": _l("Mass"), "gold": _l("Gold"), "platinum": _l("Platinum"), "diamond": _l("Diamond"),
        "private": _l("Private banking")}
MESSAGE_CHANNEL = {"all": _l("All channels"), "sms": _l("SMS"), "email": _l("E-mail"), "wechat": _l("WeChat"),
                   "inapp": _l("In-app notice"), "auto": _l("Customer's preferred channel")}
TEMPLATE = {
    "birthday_greeting": _l("Birthday greeting"), "holiday_greeting": _l("Holiday greeting"),
    "revisit_reminder": _l("Revisit reminder"), "welcome": _l("Welcome message"),
    "complaint_ack": _l("Complaint acknowledgement"), "complaint_extension": _l("Complaint extension notice"),
    "complaint_paused": _l("Complaint pause notice"), "complaint_answer": _l("Complaint answer"),
    "complaint_review_result": _l("Complaint review result"), "product_offer": _l("Product offer"),
    "one_time_code": _l("One-time code"),
}
# The teams the shipped processes and the demo route work to (candidateGroups); a team an administrator adds later
# shows under its own name.
GROUP = {"service_team": _l("Customer service team"), "supervisors": _l("Supervisors"),
         "compliance": _l("Compliance"), "customer_managers": _l("Customer managers"), "front_desk": _l("Front desk"),
         "branch_team": _l("Branch team"), "revisit_team": _l("Revisit team")}
# Audit actions as they appear in an instance's history and a customer's timeline.
ACTION = {
    "instance.started": _l("Process started"), "instance.cancelled": _l("Process terminated"),
    "instance.failed": _l("A step failed"), "instance.retried": _l("Retried"),
    "instance.migrated": _l("Moved to a new version"), "message.received": _l("Message received"),
    "timer.fired": _l("Timer fired"), "task.claim": _l("Task claimed"), "task.unclaim": _l("Task returned to the queue"),
    "task.assign": _l("Task assigned"), "task.delegate": _l("Task delegated"), "task.resolve": _l("Delegated task resolved"),
    "task.complete": _l("Task completed"), "task.updated": _l("Task updated"), "comment.added": _l("Comment added"),
    "attachment.added": _l("Attachment added"), "sla.paused": _l("SLA clock paused"),
    "sla.resumed": _l("SLA clock resumed"), "sla.breached": _l("SLA breached"),
    "complaint.withdrawn": _l("Complaint withdrawn"), "complaint.rated": _l("Answer rated"),
    "complaint.review_requested": _l("Review requested"), "complaint.new_facts": _l("New facts added"),
    "customer.viewed": _l("Customer viewed"), "customer.contact_revealed": _l("Contact details revealed"),
    "customer.tier_changed": _l("Tier changed"), "customer.dnd": _l("Do-not-disturb changed"),
    "customer.created": _l("Customer created"), "customer.updated": _l("Customer updated"),
    "consent.changed": _l("Consent changed"),
    "user.created": _l("Staff account created"), "user.updated": _l("Staff account changed"),
    "user.locked": _l("Staff account locked"), "user.unlocked": _l("Staff account unlocked"),
    "user.roles_approved": _l("Role change approved"), "user.absent": _l("Absence recorded"),
    "totp.enrolled": _l("Second factor enrolled"), "totp.reset": _l("Second factor reset"),
    "token.created": _l("API token created"), "token.approved": _l("API token approved"),
    "token.revoked": _l("API token revoked"), "token.expired": _l("API token expired"),
    "login.succeeded": _l("Signed in"), "login.throttled": _l("Sign-in attempts throttled"),
    "grant.added": _l("Permission granted"), "grant.revoked": _l("Permission withdrawn"),
    "approval.requested": _l("Second approval requested"), "definition.deployed": _l("Process version deployed"),
    "instance.archived": _l("Process archived"), "task.draft_saved": _l("Form draft saved"),
    "task.draft_discarded": _l("Form draft discarded"), "inbox_view.shared": _l("Inbox view shared"),
    "inbox_view.deleted": _l("Inbox view deleted"), "complaint.viewed": _l("Complaint viewed"),
    "customers.listed": _l("Customer list viewed"), "customer.status_changed": _l("Customer status changed"),
    "customer.risk_assessed": _l("Risk assessed"), "customer.revisit_scheduled": _l("Revisit scheduled"),
    "customer.onboarded": _l("Customer onboarded"), "customer.manager_assigned": _l("Customer manager assigned"),
    "suitability.checked": _l("Suitability checked"), "portal.code_requested": _l("Portal sign-in code requested"),
    "portal.code_verified": _l("Portal sign-in code verified"), "outbox.retried": _l("Message sent again"),
    "outbox.released": _l("Held message released"),
    "notification_settings.changed": _l("Notification settings changed"),
    "intake.secret_added": _l("Channel secret added"), "intake.secret_retired": _l("Channel secret retired"),
    "legal_hold.placed": _l("Legal hold placed"), "legal_hold.released": _l("Legal hold released"),
    "backup.restored": _l("Restored from a backup"), "audit.resealed": _l("Audit chain resealed"),
    "audit.chain_broken": _l("Audit chain broken"), "search.reindexed": _l("Search index rebuilt"),
    "search.performed": _l("Search performed"), "report.aum_snapshot": _l("Monthly AUM snapshot taken"),
    "prediction.scored": _l("Customers scored"), "prediction.retrained": _l("Prediction model retrained"),
    "customer.erased": _l("Personal data erased"),
    "dsr.received": _l("Data request received"), "dsr.answered": _l("Data request answered"),
    "dsr.refused": _l("Data request refused"), "dsr.export_downloaded": _l("Personal data copy downloaded"),
}
# Complaint classification after JR/T 0169 (the standard's Chinese names, as in engine.complaints.codes).
CHANNEL = {
    "branch_counter": _l("Branch counter"), "self_service": _l("Self-service machine"),
    "online_banking": _l("Online banking"), "phone": _l("Phone banking / hotline"), "mobile_app": _l("Mobile app"),
    "wechat": _l("Online public platform (WeChat)"), "sms": _l("SMS"), "email": _l("E-mail"),
    "portal": _l("Customer portal"), "letter": _l("Letter"), "third_party": _l("Third-party channel"),
    "back_office": _l("Middle and back office"), "regulator_transfer": _l("Transferred by the regulator"),
    "other": _l("Other channel"),
}
BUSINESS_TYPE = {
    "rmb_savings": _l("RMB savings"), "loans": _l("Loans"), "bank_cards": _l("Bank cards"),
    "payment_settlement": _l("Payment and settlement"), "rmb_cash": _l("RMB cash management"),
    "personal_financial_info": _l("Personal financial information"),
    "wealth_management": _l("Wealth management and distributed products"), "insurance_agency": _l("Bancassurance"),
    "foreign_exchange": _l("Foreign exchange"), "other": _l("Other business"),
}
CAUSE = {
    "service_attitude": _l("Service attitude or quality"), "facilities_systems": _l("Facilities, equipment or systems"),
    "rules_processes": _l("Rules and processes"), "marketing": _l("Marketing practices"),
    "disclosure": _l("Information disclosure"), "product_yield": _l("Product yield"),
    "freedom_of_choice": _l("Freedom of choice"), "pricing_terms": _l("Pricing, fees and contract terms"),
    "fund_safety": _l("Safety of funds"), "personal_info_security": _l("Safety of personal information"),
    "debt_collection": _l("Debt collection practices"), "other": _l("Other cause"),
}
ACCOUNT_KIND = {"current": _l("Current account"), "savings": _l("Savings account"), "time_deposit": _l("Time deposit"),
                "loan": _l("Loan"), "card": _l("Card account"), "investment": _l("Investment account")}
PRODUCT_FAMILY = {"deposit": _l("Deposit"), "wmp": _l("Wealth management product"), "fund": _l("Fund"),
                  "insurance": _l("Insurance"), "structured": _l("Structured product")}
ACCOUNT_STATUS = {"open": _l("Account in use"), "dormant": _l("Dormant account"), "closed": _l("Closed account")}
HOLDING_STATUS = {"held": _l("Held"), "matured": _l("Matured"), "redeemed": _l("Redeemed"), "cancelled": _l("Cancelled")}
PURPOSE = {"service": _l("Service messages"), "marketing": _l("Marketing"), "statutory": _l("Statutory notices"),
           "all": _l("All purposes")}
CONSENT_SOURCE = {"import": _l("Core-banking import"), "onboarding": _l("Onboarding"), "bank": _l("Bank record"),
                  "portal": _l("Customer portal"), "staff": _l("Recorded by staff"),
                  "erasure": _l("Closed by erasure"), "deletion_request": _l("Withdrawn on a deletion request")}
TIER_REASON = {"upgrade": _l("Upgrade"), "downgrade": _l("Downgrade (after months below)"),
               "import": _l("Core-banking import"), "onboarding": _l("Onboarding")}
# Why a message waits, was not sent or failed (outbox status_reason).
MESSAGE_REASON = {
    "rejected": _l("Refused by the channel"), "retries_exhausted": _l("Failed after every retry"),
    "retrying": _l("Retrying"), "manual_retry": _l("Sent again by a supervisor"),
    "contact_window": _l("Outside the contact hours"), "customer_dormant": _l("Customer dormant"),
    "do_not_disturb": _l("Do not disturb"), "mourning_day": _l("Mourning day"),
    "no_marketing_consent": _l("No consent to marketing"), "opted_out": _l("Customer opted out"),
    "spring_festival": _l("Quiet Spring Festival days"), "unknown_customer": _l("Unknown customer"),
    "no_address": _l("No address for the channel"), "frequency_cap": _l("Too many messages recently"),
    "restored": _l("Held after a restore"), "released": _l("Released after a restore"),
    "customer_erased": _l("Customer's personal data erased"),
}
# Data-subject requests (engine.dsr, PIPL Arts. 45 and 47).
DSR_KIND = {"access": _l("Copy of my personal data"), "deletion": _l("Deletion of my personal data")}
DSR_STATUS = {"received": _l("Received, being handled"), "answered": _l("Request answered"),
              "refused": _l("Request refused")}
DSR_CHANNEL = {"portal": _l("Customer portal"), "branch": _l("At a branch"), "phone": _l("By phone")}
DSR_REASON = {
    "relationship_active": _l("You are still our customer: the law requires us to keep your identity records"),
    "aml_retention": _l("The anti-money-laundering law keeps your identity records for years after the relationship"),
    "legal_hold": _l("A legal hold (an investigation or a court order) requires us to keep the records"),
    "open_complaint": _l("A complaint of yours is still open: the records are kept until it is closed"),
    "in_progress": _l("A service you asked for is still in progress"),
    "already_erased": _l("Your personal data has already been erased"),
    "identity_not_verified": _l("Your identity could not be verified"),
    "not_the_customer": _l("The request was not made by the customer"),
    "repeated_request": _l("The same request was answered recently"),
}
EXTENSION = {"none": _l("None"), "complex": _l("Complex case: 30 days"), "special": _l("Especially complex: 60 days")}
MODEL_STATUS = {"active": _l("In use"), "superseded": _l("Replaced"), "failed": _l("Failed"),
                "insufficient": _l("Not enough data")}
APPROVAL_KIND = {"deploy": _l("New version of a process"), "migration": _l("Migration of running instances"),
                 "grant": _l("Grant"), "roles": _l("Privileged role"), "token": _l("Administrator token")}
APPROVAL_STATUS = {"pending": _l("Waiting for approval"), "approved": _l("Approved"), "rejected": _l("Rejected"),
                   "failed": _l("Approved, failed to apply"), "executing": _l("Applying")}
LANGUAGE = {"zh-CN": _l("Chinese"), "zh": _l("Chinese"), "en": _l("English")}
TIMELINE_KIND = {"instance": _l("Process"), "task": _l("Task"), "message": _l("Message"),
                 "complaint": _l("Complaint"), "audit": _l("Audit record")}
# BPMN element types (activity_history.element_type, the heatmap's rows).
ELEMENT_KIND = {
    "task": _l("Task"), "userTask": _l("User task"), "manualTask": _l("Manual task"),
    "serviceTask": _l("Service task"), "scriptTask": _l("Script task"), "businessRuleTask": _l("Business rule task"),
    "sendTask": _l("Send task"), "receiveTask": _l("Receive task"), "callActivity": _l("Call activity"),
    "subProcess": _l("Sub-process"), "transaction": _l("Transaction"), "adHocSubProcess": _l("Ad-hoc sub-process"),
    "startEvent": _l("Start event"), "endEvent": _l("End event"),
    "intermediateCatchEvent": _l("Intermediate catch event"), "intermediateThrowEvent": _l("Intermediate throw event"),
    "boundaryEvent": _l("Boundary event"), "exclusiveGateway": _l("Exclusive gateway"),
    "inclusiveGateway": _l("Inclusive gateway"), "parallelGateway": _l("Parallel gateway"),
    "eventBasedGateway": _l("Event-based gateway"), "complexGateway": _l("Complex gateway"),
}

ACTIVITY_OUTCOME = {"completed": _l("Completed"), "cancelled": _l("Cancelled"), "error": _l("Failed")}
# Waves (engine.care.waves): the care scans cut into chunks for careflow worker, and how far each got.
WAVE_JOB = {"birthday": _l("Birthday greetings"), "holiday": _l("Holiday greetings"), "revisit": _l("Revisits due")}
WAVE_STATUS = {"running": _l("Running"), "done": _l("Finished"), "failed": _l("Failed")}

FAMILIES: dict[str, dict[str, Any]] = {
    "task_status": TASK_STATUS, "instance_status": INSTANCE_STATUS, "complaint_status": COMPLAINT_STATUS,
    "message_status": MESSAGE_STATUS, "customer_status": CUSTOMER_STATUS, "role": ROLE, "tier": TIER,
    "message_channel": MESSAGE_CHANNEL, "template": TEMPLATE, "action": ACTION, "channel": CHANNEL,
    "business_type": BUSINESS_TYPE, "cause": CAUSE, "account_kind": ACCOUNT_KIND, "product_family": PRODUCT_FAMILY,
    "timeline_kind": TIMELINE_KIND, "account_status": ACCOUNT_STATUS, "holding_status": HOLDING_STATUS,
    "purpose": PURPOSE, "language": LANGUAGE, "tier_reason": TIER_REASON, "message_reason": MESSAGE_REASON,
    "extension": EXTENSION, "model_status": MODEL_STATUS, "approval_kind": APPROVAL_KIND,
    "approval_status": APPROVAL_STATUS, "consent_source": CONSENT_SOURCE, "group": GROUP,
    "element_kind": ELEMENT_KIND, "activity_outcome": ACTIVITY_OUTCOME, "dsr_kind": DSR_KIND,
    "dsr_status": DSR_STATUS, "dsr_channel": DSR_CHANNEL, "dsr_reason": DSR_REASON, "wave_job": WAVE_JOB,
    "wave_status": WAVE_STATUS,
}


def label(code: Any, family: str) -> str:
    """The person's word for ``code`` in ``family``; the code itself when the family does not know it
    (a new code shows up raw, and tests/web/test_labels.py names it, rather than the page failing)."""
    if code is None or code == "":
        return "—"
    found = FAMILIES[family].get(str(code))
    return str(found) if found is not None else str(code)


def roles(codes: Any) -> str:
    return ", ".join(sorted(label(code, "role") for code in codes))


# --- element and process names ------------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u9fff]")
# "中文名 English name": the Chinese part (no Latin letters), one space, then the English part.
_PAIR = re.compile(r"^(?P<zh>.*?[\u3400-\u9fff][^A-Za-z0-9\s]*)\s+(?P<en>[A-Za-z0-9].*)$")
_SOURCE_NOTE = re.compile(r"\s*\((?:DOMAIN|DOMAIN\.md)[^)]*\)\s*$")


def one_language(name: Any, english: str | None = None) -> str:
    """An element or process name in the page's language: the English name when there is one and the page is in
    English; a legacy "中文 English" name split at the language boundary; anything else as written."""
    text = _SOURCE_NOTE.sub("", str(name or "")).strip()
    lang = current_language()
    if english and lang == "en":
        return english
    found = _PAIR.match(text)
    if found is None:
        return text
    return found.group("en").strip() if lang == "en" else found.group("zh").strip()


def process_name(key: Any) -> str:
    """A process key as its deployed definition's name (latest version), in the page's language."""
    names = getattr(g, "_careflow_process_names", None)
    if names is None:
        from engine.services import definitions
        from web.engine_access import current_engine

        names = {d.key: d.name for d in definitions.list_definitions(current_engine())}
        g._careflow_process_names = names
    if str(key) not in names:
        return str(key)
    english = element_names(str(key)).get(str(key), ("", None))[1] if current_language() == "en" else None
    return one_language(names[str(key)], english)


NAME_EN = "{http://careflow.example/schema/bpmn-i18n}nameEn"  # careflow:nameEn, docs/bpmn-conventions.md
# A deployed version never changes: its names are read once per (key, version, content hash).
_ELEMENT_NAMES: dict[tuple[str, int, str], dict[str, tuple[str, str | None]]] = {}


def element_names(key: str) -> dict[str, tuple[str, str | None]]:
    """Element id → (name, English name) of the latest deployed version of ``key``: parsed once per version,
    looked up once per request."""
    per_request = g.setdefault("_careflow_element_names", {})
    if key not in per_request:
        per_request[key] = _parsed_names(key)
    return dict(per_request[key])


def _parsed_names(key: str) -> dict[str, tuple[str, str | None]]:
    from xml.etree import ElementTree

    from engine.errors import NotFoundError
    from engine.services import definitions
    from web.engine_access import current_engine

    ctx = current_engine()
    try:
        view = definitions.get_definition(ctx, key)
    except NotFoundError:
        return {}
    cached = _ELEMENT_NAMES.get((key, view.version, view.sha256))
    if cached is None:
        cached = {}
        for filename in (f for f in view.files if f.endswith(".bpmn")):
            root = ElementTree.fromstring(definitions.get_definition_file(ctx, key, view.version, filename))
            cached.update({e.get("id", ""): (e.get("name", ""), e.get(NAME_EN)) for e in root.iter()
                           if e.get("id") and e.get("name")})
        _ELEMENT_NAMES[(key, view.version, view.sha256)] = cached
    return cached


def element_name(element_id: Any, key: str) -> str:
    """A BPMN element id (reports group tasks by it) as its name in the page's language."""
    name, english = element_names(key).get(str(element_id), (str(element_id), None))
    return one_language(name, english)


def task_title(task: Any) -> str:
    """A task's title in the page's language: the element's English name from the deployed definition on English
    pages (careflow:nameEn), the stored title otherwise (older bilingual titles split)."""
    english = element_names(task.process_key).get(task.task_name, ("", None))[1]
    return one_language(task.title, english)


def timeline_title(item: Any) -> str:
    """A customer-timeline line in the page's language, its codes labelled (the engine's own titles otherwise)."""
    parts, kind = tuple(getattr(item, "parts", ()) or ()), item.kind
    if kind == "instance" and parts:
        return process_name(parts[0])
    if kind == "task" and len(parts) == 3:
        return one_language(parts[0], element_names(parts[1]).get(parts[2], ("", None))[1])
    if kind == "message" and len(parts) == 2:
        return f"{label(parts[0], 'template')} · {label(parts[1], 'message_channel')}"
    if kind == "audit" and parts and parts[0] in ACTION:
        return label(parts[0], "action")
    if kind == "complaint" and len(parts) == 3:
        return f"{parts[0]} · {label(parts[1], 'business_type')} · {label(parts[2], 'cause')}"
    english = current_language() == "en" and getattr(item, "title_en", "")
    return str(english or item.title_zh)


# --- numbers ------------------------------------------------------------------------------------------------------

def _locale() -> str:
    return "zh_Hans_CN" if current_language() == "zh" else "en_US"


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: Any) -> str:
    """Yuan for people: ¥2,680.00; large sums compact (¥1.16亿 in Chinese, ¥116.0M in English)."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    if abs(amount) < 100_000:
        return format_currency(amount, "CNY", locale=_locale()).replace("CN¥", "¥")
    for digits in (2, 1, 0):  # three significant digits: ¥1.16亿, ¥59.2万 → ¥5916万, ¥116M
        text = format_compact_currency(amount, "CNY", locale=_locale(), fraction_digits=digits).replace("CN¥", "¥")
        whole = re.search(r"\d+", text)
        if whole is None or len(whole.group()) + digits <= 3:
            return text
    return text


def percent(value: Any, digits: int = 1) -> str:
    """A share (0.0267) as people read it: 2.7%."""
    share = _decimal(value)
    if share is None:
        return "—"
    return format_percent(share, format="#,##0." + "0" * digits + "%" if digits else "#,##0%", locale=_locale())


def number(value: Any, digits: int = 0) -> str:
    """A count or measure with the locale's grouping: 1,234,567 (digits: fixed decimals)."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return format_decimal(amount, format=pattern, locale=_locale())


def duration(seconds: Any) -> str:
    """A duration as people say it, in one unit: 45 s, 9 min, 2.5 h, 3 d (45 秒, 9 分钟, 2.5 小时, 3 天). Seconds and
    minutes are whole; hours and days keep one decimal when it is not zero. The heatmap's table and its diagram
    overlay both show this text."""
    if seconds is None or seconds == "":
        return "—"
    value = max(float(seconds), 0.0)
    if round(value) < 60:
        return gettext("%(n)s s", n=_plain(round(value)))
    if round(value / 60) < 60:
        return gettext("%(n)s min", n=_plain(round(value / 60)))
    if round(value / 3600, 1) < 24:
        return gettext("%(n)s h", n=_plain(round(value / 3600, 1)))
    return gettext("%(n)s d", n=_plain(round(value / 86400, 1)))


def _plain(value: float) -> str:
    return format_decimal(value, format="#,##0.#", locale=_locale())


# Report tables: which columns hold codes (labelled) and how measures read.
COLUMN_FAMILY = {"channel": "channel", "business_type": "business_type", "cause": "cause", "template": "template",
                 "tier": "tier"}
RATES = frozenset({"share_15", "share_30", "share_60", "on_time_rate", "cross_sell_rate", "completion_rate",
                   "attrition_rate", "complaint_rate"})
MONEY = frozenset({"aum_start", "aum_end", "aum_growth"})
DECIMALS = {"average": 2, "avg_hours": 1}


# Who did it, when it was not a member of staff: CareFlow's own jobs and the customer in the portal.
SYSTEM_ACTOR = {"system": _l("CareFlow (automatic)"), "cli": _l("Administrator (command line)"),
                "retention": _l("Retention run"), "portal": _l("Customer portal"), "demo": _l("Demo data")}


def actor_name(username: Any) -> str:
    """An audit or history actor as a person reads it: staff by user name, ``customer:C1001`` as the customer."""
    text = str(username or "")
    if text.startswith("customer:"):
        return gettext("The customer (%(id)s)", id=text.partition(":")[2])
    found = SYSTEM_ACTOR.get(text)
    return str(found) if found is not None else (text or "—")


def report_code(value: Any, column: str, key: str = "complaint_handling") -> Any:
    """A report cell's code as a label (CSV, Excel and chart axes keep numbers as numbers)."""
    if column in COLUMN_FAMILY and value not in (None, ""):
        return label(value, COLUMN_FAMILY[column])
    if column == "task" and value not in (None, ""):
        return element_name(value, key)
    return value


def report_cell(value: Any, column: str, key: str = "complaint_handling") -> str:
    """A report cell as a person reads it on the page: labels, percentages, money, grouped numbers."""
    if value is None or value == "":
        return "—"
    if column in RATES:
        return percent(value)
    if column in MONEY:
        return money(value)
    if column in DECIMALS:
        return number(value, DECIMALS[column])
    if column.endswith("_seconds"):
        return number(value)
    if column in COLUMN_FAMILY or column == "task":
        return str(report_code(value, column, key))
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) and column != "version":
        return number(value)
    return str(value)


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")
    app.add_template_filter(roles, "roles")
    app.add_template_filter(one_language, "one_language")
    app.add_template_filter(process_name, "process_name")
    app.add_template_filter(actor_name, "actor_name")
    app.add_template_filter(timeline_title, "timeline_title")
    app.add_template_filter(task_title, "task_title")
    app.add_template_filter(element_name, "element_name")
    app.add_template_filter(report_cell, "report_cell")
    app.add_template_filter(money, "money")
    app.add_template_filter(percent, "percent")
    app.add_template_filter(number, "number")
    app.add_template_filter(duration, "duration")
