"""The customer portal (/portal): sign in with phone + one-time code, file complaints, follow them, rate the answer.

Customer-facing, so zh-CN by default with an English toggle (the app's ``?lang=en``, kept in its cookie). The portal's
sign-in lives under its own session key (``portal``) with its own CSRF token; it never sets flask-login's
user, so a signed-in customer reaches no staff page or API, and a staff sign-in opens no portal page.
A customer only ever sees their own cases: anything else is a 404, whether it exists or not.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from engine.complaints import codes, portal
from engine.complaints import service as complaints
from engine.errors import ConflictError, EngineError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.services import sessions
from web.auth import client_address
from web.engine_access import current_engine
from web.i18n import current_language

bp = Blueprint("portal", __name__, url_prefix="/portal")
SESSION_KEY, CSRF_KEY = "portal", "portal_csrf"
STATUS = {
    "received": ("已受理", "Received"), "acknowledged": ("已受理", "Acknowledged"),
    "investigating": ("处理中", "Being investigated"), "awaiting_approval": ("处理中", "Being investigated"),
    "answered": ("已答复", "Answered"), "closed": ("已办结", "Closed"), "reopened": ("重新处理中", "Reopened"),
    "under_review": ("核查中", "Under review"), "withdrawn": ("已撤回", "Withdrawn"), "merged": ("已合并", "Merged"),
}

# Internal steps a complainant is not shown on the timeline (the engine labels the others in both languages).
HIDDEN_EVENTS = frozenset({"triaged", "investigated", "awaiting_approval", "returned", "reopen_decided", "sla_warning",
                           "sla_breached"})


# --- language, session, CSRF ---------------------------------------------------------------------------------------


@bp.after_request
def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"  # case pages hold personal data: never cached
    return response


@bp.app_template_global("portal_csrf")
def csrf() -> str:
    if CSRF_KEY not in session:
        session[CSRF_KEY] = secrets.token_urlsafe(32)
    return str(session[CSRF_KEY])


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get(CSRF_KEY, "")):
        abort(400, "invalid or missing CSRF token")


def signed_in() -> str | None:
    """The signed-in customer's id while their server-side session lives (engine.services.sessions: logout, idle
    and absolute timeouts), read once per request."""
    if "portal_customer" not in g:
        data = session.get(SESSION_KEY)
        sid = data.get("sid") if isinstance(data, dict) else None
        customer_id = sessions.resolve(current_engine(), sid if isinstance(sid, str) else None, sessions.CUSTOMER)
        if customer_id is None and data is not None:
            session.pop(SESSION_KEY, None)
        g.portal_customer = customer_id
    found: str | None = g.portal_customer
    return found


def customer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        customer_id = signed_in()
        if customer_id is None:
            return redirect(url_for("portal.login"))
        g.customer_id, g.customer = customer_id, portal.customer_actor(customer_id)
        if request.method == "POST":
            _check_csrf()
        return view(*args, **kwargs)

    return wrapper


@bp.context_processor
def _helpers() -> dict[str, Any]:
    english, zone = current_language() == "en", current_engine().settings.zone

    def code_label(axis: str, value: str) -> str:
        found = codes.AXES[axis].get(value)
        return (found.en if english else found.zh) if found else value

    def status_label(value: str) -> str:
        zh, en = STATUS.get(value, (value, value))
        return en if english else zh

    def event_label(event: Any) -> str:
        """A timeline step as the engine labels it, in the page's language."""
        return str(event.label_en if english else event.label_zh)

    def local(moment: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(zone).strftime(fmt) if moment else "—"

    rating_labels = [(1, _("Very dissatisfied")), (2, _("Dissatisfied")), (3, _("Neither")), (4, _("Satisfied")),
                     (5, _("Very satisfied"))]
    return {"code_label": code_label, "status_label": status_label, "event_label": event_label, "plocal": local,
            "hidden_events": HIDDEN_EVENTS, "signed_in": signed_in() is not None, "rating_labels": rating_labels}


def _page(template: str, status: int = 200, **values: Any) -> Any:
    return make_response(render_template(f"portal/{template}", **values), status)


def customer_message(exc: EngineError, action: str = "") -> str:
    """What a customer reads for an engine refusal, in the page's language only. The engine's own text is written
    for staff and logs (and, for a few portal checks, in both languages); the customer gets a sentence by its code."""
    reason = (exc.details or {}).get("reason")
    if exc.code == "rate_limited":
        return _("Too many requests: please try again in %(seconds)s seconds",
                 seconds=(exc.details or {}).get("retry_after", 60))
    if exc.code == "otp_invalid":
        return {
            "expired": _("The code has expired: ask for a new one"),
            "used": _("The code was already used: ask for a new one"),
            "too_many_attempts": _("Too many wrong tries: ask for a new code"),
            "no_code": _("Ask for a code first"),
        }.get(str(reason), _("The code is not right"))
    if exc.code in ("conflict", "invalid_transition"):
        return {
            "rate": _("This case can no longer be rated"),
            "review": _("A review can no longer be asked for on this case"),
            "withdraw": _("This case is already finished and cannot be withdrawn"),
        }.get(action, _("This case has changed: please look at it again"))
    if exc.code == "invalid_input" and "phone" in ((exc.details or {}).get("fields") or {}):
        return _("Enter an 11-digit mobile number")
    if exc.code == "invalid_input" and action == "file":
        return _("This kind of file cannot be attached")
    return _("Your request could not be accepted: please check what you entered")


@bp.errorhandler(NotFoundError)
@bp.errorhandler(PermissionDeniedError)
@bp.errorhandler(NotFound)
def _not_found(_error: Exception) -> Any:
    return _page("not_found.html", 404)


# --- sign-in --------------------------------------------------------------------------------------------------------


@bp.get("")
def index() -> Any:
    return redirect(url_for("portal.complaints_list" if signed_in() else "portal.login"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Step 1 (phone) → the code is sent → step 2 (code). The same answer whether or not the phone is known."""
    if request.method == "GET":
        return _page("login.html", step="phone", phone="", error=None)
    _check_csrf()
    phone = request.form.get("phone", "").strip()
    ctx = current_engine()
    if request.form.get("step") == "code":
        try:
            customer_id = portal.verify_code(ctx, phone, request.form.get("code", ""), ip=client_address())
        except EngineError as exc:
            return _page("login.html", 401 if exc.code == "otp_invalid" else 429 if exc.code == "rate_limited" else 400,
                         step="code", phone=phone, error=customer_message(exc))
        session.pop(SESSION_KEY, None)
        session[CSRF_KEY] = secrets.token_urlsafe(32)  # a fresh token for the signed-in session
        session[SESSION_KEY] = {"sid": sessions.start(ctx, sessions.CUSTOMER, customer_id)}
        g.pop("portal_customer", None)
        return redirect(url_for("portal.complaints_list"))
    try:
        portal.request_code(ctx, phone, ip=client_address())
    except EngineError as exc:
        # A refused "send a new code" keeps the code box: the code sent before may still be good.
        again = request.form.get("step") == "resend" and exc.code == "rate_limited"
        return _page("login.html", 429 if exc.code == "rate_limited" else 400, step="code" if again else "phone",
                     phone=phone, error=customer_message(exc))
    return _page("login.html", step="code", phone=phone, error=None)


@bp.post("/logout")
def logout() -> Any:
    _check_csrf()
    data = session.pop(SESSION_KEY, None)
    sid = data.get("sid") if isinstance(data, dict) else None
    sessions.end(current_engine(), sid if isinstance(sid, str) else None, sessions.CUSTOMER)
    session.pop(CSRF_KEY, None)
    return redirect(url_for("portal.login"))


# --- complaints -----------------------------------------------------------------------------------------------------


@bp.get("/complaints")
@customer_required
def complaints_list() -> Any:
    cases = complaints.list_complaints(current_engine(), actor=g.customer, customer_id=g.customer_id)
    return _page("complaints.html", cases=cases)


@bp.route("/complaints/new", methods=["GET", "POST"])
@customer_required
def new_complaint() -> Any:
    if request.method == "GET":
        return _form({"form_id": uuid.uuid4().hex}, {})
    try:
        values = request.form.to_dict()
        uploads = [(f.filename or "", f.read()) for f in request.files.getlist("files") if f.filename]
    except RequestEntityTooLarge:
        mb = current_engine().settings.uploads.max_mb
        return _form({"form_id": uuid.uuid4().hex}, {"files": [_("Files may total at most %(mb)s MB", mb=mb)]}, 413)
    data, errors = _parse(values, uploads)
    if errors:
        return _form(values, errors, 422)
    ctx = current_engine()
    try:
        view, _created = complaints.submit_complaint(ctx, data, actor=g.customer)
        if uploads and view.instance_id and _created:
            portal.attach_files(ctx, view.instance_id, uploads, actor=g.customer)
    except (InvalidInputError, ConflictError) as exc:
        return _form(values, {"form": [customer_message(exc)]}, 422)
    return redirect(url_for("portal.complaint", case_no=view.case_no, created=1))


def _form(values: dict[str, Any], errors: dict[str, list[str]], status: int = 200) -> Any:
    return _page("new.html", status, values=values, errors=errors, business_types=list(codes.BUSINESS_TYPES.values()),
                 causes=list(codes.CAUSES.values()), max_mb=current_engine().settings.uploads.max_mb,
                 max_files=current_engine().settings.uploads.max_files)


def _parse(form: dict[str, str], uploads: list[tuple[str, bytes]]) -> tuple[Any, dict[str, list[str]]]:
    """The complaint input from the form, or field errors (in the page's language) without calling the engine."""
    errors: dict[str, list[str]] = {}
    summary, facts, wish = (form.get(k, "").strip() for k in ("summary", "facts", "request"))
    business_type, cause = form.get("business_type", ""), form.get("cause", "")
    if business_type not in codes.BUSINESS_TYPES:
        errors["business_type"] = [_("Choose the kind of business")]
    if cause not in codes.CAUSES:
        errors["cause"] = [_("Choose the cause")]
    if not 5 <= len(summary) <= 500:
        errors["summary"] = [_("Describe the problem in 5 to 500 characters")]
    if len(facts) > 5000 or len(wish) > 2000:
        errors["facts"] = [_("Too long")]
    amount = None
    if form.get("amount", "").strip():
        try:
            amount = Decimal(form["amount"].strip().replace(",", ""))
            if not amount.is_finite() or amount < 0 or amount >= Decimal("1e15"):
                raise InvalidOperation
            amount = amount.quantize(Decimal("0.01"))
        except InvalidOperation:
            errors["amount"] = [_("Enter a valid amount")]
    errors.update(_file_errors(uploads))
    if errors:
        return None, errors
    data = complaints.ComplaintInput(
        channel="portal", business_type=business_type, cause=cause, summary=summary, facts=facts, request=wish,
        customer_id=g.customer_id, amount=amount, source="portal", source_ref=f"{g.customer_id}:{form.get('form_id', '')}"
        if form.get("form_id") else None)
    return data, {}


def _file_errors(uploads: list[tuple[str, bytes]]) -> dict[str, list[str]]:
    problems, caps = [], current_engine().settings.uploads
    if len(uploads) > caps.max_files:
        problems.append(_("At most %(count)s files", count=caps.max_files))
    for name, content in uploads:
        if len(content) > caps.max_bytes:
            problems.append(_("%(name)s: larger than %(mb)s MB", name=name, mb=caps.max_mb))
            continue
        try:
            portal.check_upload(current_engine(), name, content)
        except InvalidInputError as exc:
            problems.append(f"{name}: {customer_message(exc, 'file')}")
    return {"files": problems} if problems else {}


@bp.get("/complaints/<case_no>")
@customer_required
def complaint(case_no: str) -> Any:
    return _case_page(case_no)


def _case_page(case_no: str, errors: dict[str, list[str]] | None = None, status: int = 200) -> Any:
    ctx = current_engine()
    view = complaints.get_complaint(ctx, case_no, actor=g.customer)
    files = portal.list_case_files(ctx, view.instance_id, uploaded_by=g.customer.username) if view.instance_id else []
    return _page("complaint.html", status, case=view, files=files, errors=errors or {},
                 created=request.args.get("created") == "1")


@bp.post("/complaints/<case_no>/<action>")
@customer_required
def act(case_no: str, action: str) -> Any:
    ctx, form = current_engine(), request.form
    try:
        if action == "rate":
            score = form.get("score", "")
            if score not in ("1", "2", "3", "4", "5"):
                return _case_page(case_no, {"score": [_("Choose 1 to 5")]}, 422)
            complaints.rate_complaint(ctx, case_no, score=int(score), comment=form.get("comment", "").strip()[:1000],
                                      actor=g.customer)
        elif action == "review":
            reason = form.get("reason", "").strip()
            if not 5 <= len(reason) <= 2000:
                return _case_page(case_no, {"reason": [_("Give your reasons (5–2000 characters)")]},
                                  422)
            complaints.request_review(ctx, case_no, reason=reason, actor=g.customer)
        elif action == "withdraw":
            complaints.withdraw_complaint(ctx, case_no, reason=form.get("reason", "").strip()[:1000], actor=g.customer)
        else:
            abort(404)
    except (InvalidInputError, ConflictError) as exc:
        return _case_page(case_no, {action: [customer_message(exc, action)]},
                          409 if isinstance(exc, ConflictError) else 422)
    return redirect(url_for("portal.complaint", case_no=case_no))
