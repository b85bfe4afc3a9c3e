"""Complaint intake over the API: ``POST /api/v1/complaints`` and ``GET /api/v1/complaints/{case_no}``.

Two kinds of caller (docs/architecture.md §3, docs/domain.md §1.3):

- **Channels** (mobile app, WeChat, …) sign each request with one of their active secrets
  (``careflow intake secret add``, or ``CAREFLOW_INTAKE_SECRETS="wechat:…,mobile_app:…"``): headers
  ``X-CareFlow-Channel``, ``X-CareFlow-Timestamp`` (Unix seconds, at most 60 s old and 30 s ahead of the server's
  clock by default) and ``X-CareFlow-Signature`` = hex HMAC-SHA256 of ``"<timestamp>." + <raw body bytes>``. Each
  signed request is accepted once (the same signature again is 409, not counted against the rate limit; see
  engine.complaints.intake). The body's ``message_id`` makes a freshly signed retry idempotent: the same id again
  returns the first case (200, not 201).
- **Staff** entering phone or branch complaints use their bearer token (or the browser session) and
  name the ``channel`` in the body.

Bad signatures, unknown channels and stale or future timestamps are 401; a replayed signed request is 409;
malformed data is 422 with ``details.fields``; each channel (and each staff member) is rate-limited (429 with ``Retry-After``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import g, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from engine.complaints import codes, portal
from engine.complaints import intake as intake_auth
from engine.complaints import service as complaints
from engine.errors import FormValidationError, PermissionDeniedError
from engine.views import Actor
from web.api import bp, to_json
from web.auth import token_required
from web.engine_access import current_engine

CHANNEL_LIMITS = ((60, 60), (2000, 3600))  # per signed channel: 60 a minute, 2,000 an hour
STAFF_LIMITS = ((30, 60),)  # per staff member
STAFF_ROLES = ("staff", "supervisor")


def _amount_in_range(value: Decimal) -> None:
    # A plain function, not validate.Range: apispec would write a Decimal bound as a string into the document.
    if not 0 <= value < 10**15:
        raise ValidationError("must be at least 0 and less than 10^15")


class NewComplaint(Schema):
    """A complaint as a channel or a staff member sends it (docs/domain.md §1.3: what the bank records at intake)."""

    message_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100),
                               metadata={"description": "the sender's id for this complaint; the same id again "
                                                        "returns the first case (required for signed channels)"})
    channel = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(list(codes.CHANNELS)),
                            metadata={"description": "staff callers: where the complaint came in (e.g. `phone`, "
                                                     "`branch_counter`); signed channels: omit or repeat the header"})
    business_type = fields.String(required=True, validate=validate.OneOf(list(codes.BUSINESS_TYPES)))
    cause = fields.String(required=True, validate=validate.OneOf(list(codes.CAUSES)))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=500))
    facts = fields.String(load_default="", validate=validate.Length(max=5000))
    request = fields.String(load_default="", validate=validate.Length(max=2000))
    customer_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))
    complainant_name = fields.String(load_default="", validate=validate.Length(max=128))
    complainant_phone = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^\+?[\d\- ]{5,20}$"))
    amount = fields.Decimal(load_default=None, allow_none=True, places=2, allow_nan=False, validate=_amount_in_range,
                            metadata={"description": "CNY, 0 ≤ amount < 10^15 (a number or a decimal string)"})
    group_size = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    received_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                       metadata={"description": "when the bank received it (default: now)"})
    regulator_due_on = fields.Date(load_default=None, allow_none=True,
                                   metadata={"description": "reply date set by a regulator's transfer notice"})
    new_facts = fields.Boolean(load_default=False)


def _load(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FormValidationError({"_body": ["the request body must be a JSON object"]})
    try:
        data: dict[str, Any] = NewComplaint().load(body)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_body": exc.messages}
        raise FormValidationError({str(k): [str(m) for m in (v if isinstance(v, list) else [v])]
                                   for k, v in messages.items()}) from exc
    return data


def _signed_request() -> intake_auth.SignedRequest:
    """The channel's signed request (AuthenticationError: unknown channel, stale or future timestamp, bad signature)."""
    return intake_auth.authenticate(current_engine(), channel=request.headers.get("X-CareFlow-Channel", "").strip(),
                                    timestamp=request.headers.get("X-CareFlow-Timestamp", ""),
                                    signature=request.headers.get("X-CareFlow-Signature", ""),
                                    body=request.get_data(cache=True))


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """What a channel sends as ``X-CareFlow-Signature`` (for senders and tests)."""
    return intake_auth.sign(secret, timestamp, body)


@bp.post("/complaints")
def submit_complaint() -> Any:
    if "X-CareFlow-Channel" in request.headers:
        signed = _signed_request()
        channel = signed.channel
        # A replay is refused before the rate limit counts it: captured traffic cannot use up a channel's quota.
        intake_auth.check_unseen(current_engine(), signed)
        portal.take_rate(current_engine(), f"intake:{channel}", CHANNEL_LIMITS)
        intake_auth.remember(current_engine(), signed)
        data = _load(request.get_json(silent=True))
        if data["message_id"] is None:
            raise FormValidationError({"message_id": ["required for channel intake (it makes retries safe)"]})
        if data["channel"] not in (None, channel):
            raise FormValidationError({"channel": [f"this request is signed by {channel}"]})
        actor, source = Actor(f"channel:{channel}", frozenset({"intake"})), channel
    else:
        return _staff_submit()
    return _submit(data, channel=channel, source=source, actor=actor)


@token_required
def _staff_submit() -> Any:
    actor: Actor = g.actor
    if not actor.has_role(*STAFF_ROLES):
        raise PermissionDeniedError(f"{actor.username} needs one of the roles staff, supervisor",
                                    details={"roles": list(STAFF_ROLES)})
    portal.take_rate(current_engine(), f"intake:user:{actor.username}", STAFF_LIMITS)
    data = _load(request.get_json(silent=True) if request.content_length else {})
    if data["channel"] is None:
        raise FormValidationError({"channel": ["staff say where the complaint came in, e.g. phone or branch_counter"]})
    return _submit(data, channel=data["channel"], source="staff", actor=actor)


def _submit(data: dict[str, Any], *, channel: str, source: str, actor: Actor) -> Any:
    message_id = data.pop("message_id")
    data.pop("channel")
    item = complaints.ComplaintInput(channel=channel, source=source, source_ref=message_id, **data)
    view, created = complaints.submit_complaint(current_engine(), item, actor=actor)
    body = {"case_no": view.case_no, "status": view.status, "created": created, "received_at": view.received_at,
            "target_due_on": view.target_due_on, "legal_due_on": view.legal_due_on, "merged_into": view.merged_into}
    return jsonify(plain(body)), 201 if created else 200


@bp.get("/complaints/<case_no>")
@token_required
def get_complaint(case_no: str) -> Any:
    return jsonify(plain(complaints.get_complaint(current_engine(), case_no, actor=g.actor)))


def plain(value: Any) -> Any:
    """``to_json`` plus ISO dates and decimal strings (Flask would write dates as HTTP dates)."""
    value = to_json(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class ComplaintCreated(Schema):
    """What ``POST /complaints`` answers (documentation only)."""

    case_no = fields.String(required=True, metadata={"description": "the case number, e.g. TS20250303-000001"})
    status = fields.String(required=True)
    created = fields.Boolean(required=True, metadata={"description": "false for a repeated message_id or a merge"})
    received_at = fields.DateTime(required=True)
    target_due_on = fields.Date(required=True, metadata={"description": "the bank's target answer day (15 days)"})
    legal_due_on = fields.Date(required=True, metadata={"description": "the legal last day (rest days moved on)"})
    merged_into = fields.String(required=True, allow_none=True,
                                metadata={"description": "the open case this repeat was merged into"})
