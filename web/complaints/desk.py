"""The staff complaints desk (/complaints): enter phone, branch, letter and regulator complaints; list and open cases.

Staff record a complaint the way the channel gave it (docs/domain.md §1.3: receipt time and channel, complainant,
request and facts, the JR/T 0169 business type and cause); the engine opens the case and starts the
``complaint_handling`` process, whose tasks then appear in the inbox. Lists show names masked.
A double-submitted form opens one case (the form carries an idempotency id).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine.complaints import case_file as complaint_file
from engine.complaints import codes
from engine.complaints import service as complaints
from engine.errors import ConflictError, FormValidationError, InvalidInputError, PermissionDeniedError
from engine.services import instances
from engine.views import Actor
from web import case_file as case_words
from web import labels
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine

bp = Blueprint("complaints_desk", __name__, url_prefix="/complaints")
# Channels staff enter by hand; the portal, app and WeChat come in by themselves.
DESK_CHANNELS = ("phone", "branch_counter", "letter", "email", "regulator_transfer", "self_service", "other")
STAFF_ROLES = ("staff", "supervisor")


def code_label(axis: str, code: str) -> str:
    """A stored code's label in the page's language (the raw code if the table no longer knows it)."""
    return labels.label(code, axis)


def _staff() -> Actor:
    actor = current_actor()
    if not actor.has_role(*STAFF_ROLES):
        raise PermissionDeniedError("the complaints desk is for staff and supervisors")
    return actor


@bp.get("")
@login_required
def index() -> Any:
    actor = _staff()
    status = request.args.get("status") or None
    cases = complaints.list_complaints(current_engine(), actor=actor, status=status, limit=100)
    return render_template("complaints_desk/list.html", actor=actor, cases=cases, status=status or "",
                           label=code_label)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    actor = _staff()
    if request.method == "GET":
        return _form(actor, {"form_id": uuid.uuid4().hex, "channel": "phone", "group_size": "1"}, {})
    check_csrf()
    values = request.form.to_dict()
    data, errors = _parse(values)
    if errors:
        return _form(actor, values, errors, 422)
    try:
        view, created = complaints.submit_complaint(current_engine(), data, actor=actor)
    except FormValidationError as exc:
        return _form(actor, values, exc.errors, 422)
    except (InvalidInputError, ConflictError) as exc:
        return _form(actor, values, {"form": [exc.message]}, 422)
    flash(_("Complaint %(case_no)s recorded", case_no=view.case_no) if created
          else _("Complaint %(case_no)s was already recorded", case_no=view.case_no), "success")
    return redirect(url_for("complaints_desk.case", case_no=view.case_no))


def _form(actor: Actor, values: dict[str, str], errors: dict[str, list[str]], status: int = 200) -> Any:
    return render_template("complaints_desk/new.html", actor=actor, values=values, errors=errors, label=code_label,
                           channels=[codes.CHANNELS[c] for c in DESK_CHANNELS],
                           business_types=list(codes.BUSINESS_TYPES.values()), causes=list(codes.CAUSES.values())), status


def _parse(form: dict[str, str]) -> tuple[Any, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    text = {k: form.get(k, "").strip() for k in ("summary", "facts", "request", "complainant_name", "complainant_phone",
                                                 "customer_id")}
    for axis, table in (("channel", codes.CHANNELS), ("business_type", codes.BUSINESS_TYPES), ("cause", codes.CAUSES)):
        if form.get(axis) not in table:
            errors[axis] = [_("Choose one")]
    if not 1 <= len(text["summary"]) <= 500:
        errors["summary"] = [_("Required, at most 500 characters")]
    if not (text["customer_id"] or text["complainant_name"]):
        errors["complainant_name"] = [_("Give the customer number or the complainant's name")]
    amount = _amount(form.get("amount", ""), errors)
    try:
        group_size = int(form.get("group_size") or "1")
        if not 1 <= group_size <= 100000:
            raise ValueError
    except ValueError:
        errors["group_size"] = [_("From 1 to 100000")]
        group_size = 1
    representatives = None
    if (form.get("representatives") or "").strip():
        most = current_engine().settings.complaints.group_face_to_face_max_reps
        try:
            representatives = int(form["representatives"])
            if not 1 <= representatives <= most:
                raise ValueError
        except ValueError:
            errors["representatives"] = [_("A group complaining in person elects 1 to %(most)s representatives",
                                           most=most)]
    received_at = _local_datetime(form.get("received_at", ""), errors)
    if errors:
        return None, errors
    return complaints.ComplaintInput(
        channel=form["channel"], business_type=form["business_type"], cause=form["cause"], summary=text["summary"],
        facts=text["facts"], request=text["request"], customer_id=text["customer_id"] or None,
        complainant_name=text["complainant_name"], complainant_phone=text["complainant_phone"] or None, amount=amount,
        group_size=group_size, source="staff", source_ref=f"desk:{form.get('form_id', '')}" if form.get("form_id") else None,
        received_at=received_at, new_facts=form.get("new_facts") == "1", representatives=representatives,
    ), {}


def _amount(raw: str, errors: dict[str, list[str]]) -> Decimal | None:
    if not raw.strip():
        return None
    try:
        amount = Decimal(raw.strip().replace(",", ""))
        if not amount.is_finite() or amount < 0 or amount >= Decimal("1e15"):
            raise InvalidOperation
        return amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        errors["amount"] = [_("Enter a valid amount")]
        return None


def _local_datetime(raw: str, errors: dict[str, list[str]]) -> datetime | None:
    """A datetime-local value in the bank's zone (default: now); never in the future."""
    if not raw.strip():
        return None
    ctx = current_engine()
    try:
        moment = datetime.fromisoformat(raw.strip()).replace(tzinfo=ctx.settings.zone)
    except ValueError:
        errors["received_at"] = [_("Not a valid date and time")]
        return None
    if moment > ctx.clock.now():
        errors["received_at"] = [_("Cannot be in the future")]
        return None
    return moment


@bp.get("/<case_no>")
@login_required
def case(case_no: str) -> Any:
    actor = _staff()
    ctx = current_engine()
    view = complaints.get_complaint(ctx, case_no, actor=actor)
    instance = instances.get_instance(ctx, view.instance_id, actor=actor) if view.instance_id else None
    found = complaint_file.get_complaint_file(ctx, case_no, actor=actor) if view.instance_id else None
    return render_template("complaints_desk/case.html", actor=actor, case=view, instance=instance, case_file=found,
                           label=code_label, evidence_labels=EVIDENCE_LABELS, printed_at=ctx.clock.now(),
                           **case_words.helpers())


EVIDENCE_LABELS = {"phone": ("电话录音", "recorded phone call"), "letter": ("书面信函", "letter"),
                   "counter": ("柜面签字单", "signed counter slip")}


@bp.post("/<case_no>/acts")
@login_required
def record_act(case_no: str) -> Any:
    """Record the complainant's withdrawal, rating or review request received by phone, letter or at the counter,
    with its evidence (the case shows who recorded it)."""
    check_csrf()
    actor, ctx, form = _staff(), current_engine(), request.form
    evidence = complaints.OnBehalf(form.get("evidence_channel", ""), form.get("evidence_reference", ""),
                                   form.get("evidence_note", ""))
    act = form.get("act", "")
    try:
        if act == "withdraw":
            complaints.withdraw_complaint(ctx, case_no, reason=form.get("reason", ""), actor=actor, on_behalf=evidence)
        elif act == "rate":
            score = int(form.get("score", "0") or 0)
            complaints.rate_complaint(ctx, case_no, score=score, comment=form.get("reason", ""), actor=actor,
                                      on_behalf=evidence)
        elif act == "request_review":
            complaints.request_review(ctx, case_no, reason=form.get("reason", ""), actor=actor, on_behalf=evidence)
        else:
            raise InvalidInputError(_("Choose what the customer asked for"))
        flash(_("Recorded for the customer, with the evidence"), "success")
    except (ConflictError, InvalidInputError, PermissionDeniedError, ValueError) as exc:
        flash(getattr(exc, "message", None) or _("The score must be a number from 1 to 5"), "error")
    return redirect(url_for("complaints_desk.case", case_no=case_no))
