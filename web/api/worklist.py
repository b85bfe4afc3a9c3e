"""The work surface over the API: ``POST /api/v1/tasks/claim-next`` and the notification bell's
``GET /api/v1/notifications`` and ``POST /api/v1/notifications/read``."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from marshmallow import Schema, fields, validate

from engine.services import notifications, worklist
from web.api import INT64_MAX, bp, schemas, to_json
from web.auth import token_required
from web.engine_access import current_engine


class MarkRead(Schema):
    ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=INT64_MAX)), load_default=None,
                      validate=validate.Length(max=notifications.MAX_LIMIT),
                      metadata={"description": "these notifications (default: all of yours)"})
    task_id = fields.UUID(load_default=None, metadata={"description": "the notifications of this task"})


class ReadResult(Schema):
    marked = fields.Integer(required=True, metadata={"description": "how many became read"})


@bp.post("/tasks/claim-next")
@token_required
def claim_next() -> Any:
    """Claim the best next task of the caller's queue: 200 with the task, or 204 when the queue is empty."""
    task = worklist.claim_next(current_engine(), actor=g.actor)
    if task is None:
        return "", 204
    return jsonify(to_json(task))


@bp.get("/notifications")
@token_required
def list_notifications() -> Any:
    unread_only = request.args.get("unread", "") in ("1", "true")
    limit = request.args.get("limit", type=int) or 20
    page = notifications.list_notifications(current_engine(), actor=g.actor, unread_only=unread_only,
                                            limit=min(max(limit, 0), 10**6))
    return jsonify(to_json(page))


@bp.post("/notifications/read")
@token_required
def read_notifications() -> Any:
    from web.api import body

    data = body(MarkRead)
    marked = notifications.mark_read(current_engine(), actor=g.actor, ids=data["ids"],
                                     task_id=str(data["task_id"]) if data["task_id"] else None)
    return jsonify({"marked": marked})


__all__ = ["MarkRead", "ReadResult", "schemas"]
