"""Staff recording a complainant's own act for them: ``POST /api/v1/complaints/{case_no}/acts``.

Withdrawing, rating the answer and asking for a review are the customer's acts (engine.complaints.service). When
one reaches the bank by a recorded phone call, a letter or at the counter, staff record it here with its evidence;
the case then shows who recorded it and on what evidence. Without evidence the request is refused (403).
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from marshmallow import Schema, fields, validate

from engine.complaints import service as complaints
from web.api import bp, schemas, to_json
from web.auth import token_required
from web.engine_access import current_engine

ACTS = ("withdraw", "rate", "request_review")


class Evidence(Schema):
    channel = fields.String(required=True, validate=validate.OneOf(list(complaints.EVIDENCE_CHANNELS)))
    reference = fields.String(required=True, validate=validate.Length(min=1, max=200),
                              metadata={"description": "the call recording's id, the letter's or the slip's number"})
    note = fields.String(load_default="", validate=validate.Length(max=1000))


class CustomerAct(Schema):
    act = fields.String(required=True, validate=validate.OneOf(list(ACTS)))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))
    score = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(load_default="", validate=validate.Length(max=1000))
    evidence = fields.Nested(Evidence, required=True)


@bp.post("/complaints/<case_no>/acts")
@token_required
def record_customer_act(case_no: str) -> Any:
    data = schemas.load(CustomerAct, request.get_json(silent=True) if request.content_length else {})
    evidence = complaints.OnBehalf(**data["evidence"])
    ctx, actor, act = current_engine(), g.actor, data["act"]
    if act == "withdraw":
        view = complaints.withdraw_complaint(ctx, case_no, reason=data["reason"], actor=actor, on_behalf=evidence)
    elif act == "rate":
        view = complaints.rate_complaint(ctx, case_no, score=data["score"] or 0, comment=data["comment"], actor=actor,
                                         on_behalf=evidence)
    else:
        view = complaints.request_review(ctx, case_no, reason=data["reason"], actor=actor, on_behalf=evidence)
    return jsonify(to_json(view))
