"""Grants and maker-checker approvals over the API: ``/api/v1/grants`` and ``/api/v1/approvals``.

Asking for a grant answers 202 with the approval a second administrator must give; approving carries the change out
(a deploy, a migration, a grant, a role, a token) and answers with its result. Views parse, call one engine
service, render; the rules live in engine.services.grants and engine.services.approvals.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from marshmallow import Schema, fields, validate

from engine.authz.catalogue import PERMISSIONS
from engine.services import approvals, grants
from web.api import INT64_MAX, bp, schemas, to_json
from web.auth import token_required
from web.engine_access import current_engine

STATUSES = ("pending", "approved", "rejected", "failed", "executing")


class NewGrant(Schema):
    principal = fields.String(required=True, validate=validate.Length(min=3, max=150),
                              metadata={"description": "user:<name>, group:<name>, role:<role> or process:<key>"})
    resource_kind = fields.String(required=True, validate=validate.OneOf(list(PERMISSIONS)))
    resource_id = fields.String(required=True, validate=validate.Length(min=1, max=256),
                                metadata={"description": "an id, or * for every resource of the kind; customers: "
                                                         "*, portfolio or branch:<code>"})
    permission = fields.String(required=True, validate=validate.Length(min=1, max=32))


class Rejection(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


@bp.get("/grants")
@token_required
def list_grants() -> Any:
    return jsonify({"items": to_json(grants.list_grants(current_engine(), actor=g.actor))})


@bp.post("/grants")
@token_required
def request_grant() -> Any:
    data = schemas.load(NewGrant, request.get_json(silent=True) if request.content_length else {})
    spec = grants.parse(data["principal"], data["resource_kind"], data["resource_id"], data["permission"])
    return jsonify(to_json(grants.request_grant(current_engine(), spec, actor=g.actor))), 202


@bp.delete(f"/grants/<int(max={INT64_MAX}):grant_id>")
@token_required
def revoke_grant(grant_id: int) -> Any:
    return jsonify(to_json(grants.revoke_grant(current_engine(), grant_id, actor=g.actor)))


@bp.get("/approvals")
@token_required
def list_approvals() -> Any:
    status = request.args.get("status", "pending")
    if status not in (*STATUSES, "all"):
        status = "pending"
    views = approvals.list_approvals(current_engine(), actor=g.actor, status=None if status == "all" else status)
    return jsonify({"items": to_json(views)})


@bp.get(f"/approvals/<int(max={INT64_MAX}):approval_id>")
@token_required
def get_approval(approval_id: int) -> Any:
    return jsonify(to_json(approvals.get_approval(current_engine(), approval_id, actor=g.actor)))


@bp.post(f"/approvals/<int(max={INT64_MAX}):approval_id>/approve")
@token_required
def approve(approval_id: int) -> Any:
    return jsonify(to_json(approvals.approve(current_engine(), approval_id, actor=g.actor)))


@bp.post(f"/approvals/<int(max={INT64_MAX}):approval_id>/reject")
@token_required
def reject(approval_id: int) -> Any:
    reason = schemas.load(Rejection, request.get_json(silent=True) if request.content_length else {})["reason"]
    return jsonify(to_json(approvals.reject(current_engine(), approval_id, actor=g.actor, reason=reason)))
