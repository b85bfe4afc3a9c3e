"""REST API (/api/v1): parse the request, call one engine service, render the result."""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, g, jsonify, make_response, request

from engine.bpmn.loader import SourceFile
from engine.errors import InvalidInputError
from engine.services import collaboration, definitions, instances, messages, outbox, sla, tasks
from engine.views import DeployResult
from web.api import schemas
from web.auth import token_required
from web.engine_access import current_engine

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Numbers beyond the column types (versions are INTEGER, ids BIGINT) are refused before SQL sees them.
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_json(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: to_json(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def int_arg(name: str, limit: int = INT64_MAX) -> int | None:
    """An integer query argument (None when absent or not a number); 400 when its magnitude exceeds ``limit``."""
    value = request.args.get(name, type=int)
    if value is not None and abs(value) > limit:
        raise InvalidInputError(f"{name} is out of range")
    return value


def time_arg(name: str) -> datetime | None:
    """An RFC 3339 query argument with its offset (None when absent); 400 when it is not one."""
    text = request.args.get(name)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(f"{name} must be a date and time with its offset, e.g. 2026-12-02T18:00:00+08:00")
    return moment


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


@bp.before_request
def refuse_nul_characters() -> None:
    """PostgreSQL text cannot hold NUL characters: refuse them anywhere in the request with a 400, not a 500 later.

    The raw path, query and JSON body are searched first (a NUL in JSON is written ``\\u0000``); only a request
    that may hold one is parsed and walked, so a literal backslash-u-0000 text still passes."""
    values: list[Any] = []
    if "\x00" in request.path:
        values.append(list((request.view_args or {}).values()))
    if b"%00" in request.query_string or b"\x00" in request.query_string:
        values.append(list(request.args.items(multi=True)))
    if request.mimetype in FORM_TYPES:
        values += [list(request.form.items(multi=True)), [f.filename or "" for f in request.files.values()]]
    elif request.is_json and request.content_length:
        raw = request.get_data(cache=True)
        if b"\\u0000" in raw or b"\x00" in raw:
            values.append(request.get_json(silent=True))
    if _has_nul(values):
        raise InvalidInputError("the request contains a NUL character")


def body(schema: type[schemas.Schema]) -> dict[str, Any]:
    return schemas.load(schema, request.get_json(silent=True) if request.content_length else {})


@bp.post("/definitions")
@token_required
def deploy() -> Any:
    if request.files:
        files = [SourceFile(f.filename or name, f.read()) for name, f in request.files.items(multi=True)]
        process_key = request.form.get("process_key") or None
    else:
        data = body(schemas.Deploy)
        files = [SourceFile(f["filename"], f["content"].encode("utf-8")) for f in data["files"]]
        process_key = data["process_key"]
    validate_only = request.args.get("validate_only") in ("1", "true")
    return deployed(definitions.deploy_definition(current_engine(), files=files, actor=g.actor, process_key=process_key,
                                                  validate_only=validate_only))


def deployed(result: DeployResult | None) -> tuple[Any, int]:
    """201 for a new version, 200 when nothing changed (or only validated), 202 while it awaits a second person."""
    if result is None:
        return jsonify({"valid": True}), 200
    view = result.definition
    body = {"key": view.key, "version": view.version, "created": result.created}
    if result.approval_id is not None:
        return jsonify(body | {"approval_id": result.approval_id, "status": "awaiting_approval"}), 202
    return jsonify(body), 201 if result.created else 200


@bp.get("/definitions")
@token_required
def list_definitions() -> Any:
    return jsonify({"items": to_json(definitions.list_definitions(current_engine()))})


@bp.get("/definitions/<key>")
@token_required
def get_definition(key: str) -> Any:
    version = int_arg("version", INT32_MAX)
    return jsonify(to_json(definitions.get_definition(current_engine(), key, version)))


@bp.post("/instances")
@token_required
def start_instance() -> Any:
    view = instances.start_instance(current_engine(), actor=g.actor, **body(schemas.StartInstance))
    return jsonify({"id": view.id, "status": view.status, "error": view.error}), 201


@bp.get("/instances/<instance_id>")
@token_required
def get_instance(instance_id: str) -> Any:
    return jsonify(to_json(instances.get_instance(current_engine(), instance_id, actor=g.actor)))


@bp.post("/instances/<instance_id>/cancel")
@token_required
def cancel_instance(instance_id: str) -> Any:
    view = instances.cancel_instance(current_engine(), instance_id, actor=g.actor, **body(schemas.Cancel))
    return jsonify(to_json(view))


@bp.post("/instances/<instance_id>/retry")
@token_required
def retry_instance(instance_id: str) -> Any:
    view = instances.retry_instance(current_engine(), instance_id, actor=g.actor, **body(schemas.Retry))
    return jsonify(to_json(view))


@bp.get("/tasks")
@token_required
def list_tasks() -> Any:
    args = request.args
    filters = tasks.TaskFilters(
        process=args.get("process") or None, customer=args.get("customer") or None,
        overdue=_flag(args.get("overdue", "")), q=args.get("q") or None,
        priority_min=int_arg("priority_min", INT32_MAX), due_before=time_arg("due_before"),
        follow_up_before=time_arg("follow_up_before"),
    )
    page = tasks.list_tasks(current_engine(), actor=g.actor, view=args.get("view", "mine"), filters=filters,
                            sort=args.get("sort", "created"), limit=args.get("limit", 50, type=int),
                            cursor=args.get("cursor") or None, count=bool(_flag(args.get("count", ""))))
    return jsonify(to_json(page))


def _flag(value: str) -> bool | None:
    return {"1": True, "true": True, "0": False, "false": False}.get(value)


@bp.get("/tasks/<task_id>")
@token_required
def get_task(task_id: str) -> Any:
    return jsonify(to_json(tasks.get_task(current_engine(), task_id, actor=g.actor)))


@bp.post("/tasks/<task_id>/claim")
@token_required
def claim(task_id: str) -> Any:
    return jsonify(to_json(tasks.claim_task(current_engine(), task_id, actor=g.actor)))


@bp.post("/tasks/<task_id>/unclaim")
@token_required
def unclaim(task_id: str) -> Any:
    return jsonify(to_json(tasks.unclaim_task(current_engine(), task_id, actor=g.actor)))


@bp.post("/tasks/<task_id>/assign")
@token_required
def assign(task_id: str) -> Any:
    user = body(schemas.Assign)["user"]
    return jsonify(to_json(tasks.assign_task(current_engine(), task_id, actor=g.actor, assignee=user)))


@bp.post("/tasks/<task_id>/complete")
@token_required
def complete(task_id: str) -> Any:
    data = body(schemas.Complete)["data"]
    return jsonify(to_json(tasks.complete_task(current_engine(), task_id, actor=g.actor, data=data)))


@bp.patch("/tasks/<task_id>")
@token_required
def update_task(task_id: str) -> Any:
    return jsonify(to_json(tasks.update_task(current_engine(), task_id, actor=g.actor, **body(schemas.UpdateTask))))


@bp.post("/tasks/<task_id>/delegate")
@token_required
def delegate(task_id: str) -> Any:
    to = body(schemas.Delegate)["user"]
    return jsonify(to_json(tasks.delegate_task(current_engine(), task_id, actor=g.actor, to=to)))


@bp.post("/tasks/<task_id>/resolve")
@token_required
def resolve(task_id: str) -> Any:
    return jsonify(to_json(tasks.resolve_task(current_engine(), task_id, actor=g.actor)))


@bp.post("/tasks/<task_id>/sla/pause")
@token_required
def pause_sla(task_id: str) -> Any:
    reason = body(schemas.PauseSla)["reason"]
    return jsonify(to_json(sla.pause_sla(current_engine(), task_id, actor=g.actor, reason=reason)))


@bp.post("/tasks/<task_id>/sla/resume")
@token_required
def resume_sla(task_id: str) -> Any:
    return jsonify(to_json(sla.resume_sla(current_engine(), task_id, actor=g.actor)))


@bp.get("/tasks/<task_id>/comments")
@token_required
def list_comments(task_id: str) -> Any:
    return jsonify({"items": to_json(collaboration.list_comments(current_engine(), task_id, actor=g.actor))})


@bp.post("/tasks/<task_id>/comments")
@token_required
def add_comment(task_id: str) -> Any:
    text = body(schemas.NewComment)["text"]
    return jsonify(to_json(collaboration.add_comment(current_engine(), task_id, actor=g.actor, text=text))), 201


@bp.get("/tasks/<task_id>/attachments")
@token_required
def list_attachments(task_id: str) -> Any:
    return jsonify({"items": to_json(collaboration.list_attachments(current_engine(), task_id, actor=g.actor))})


@bp.post("/tasks/<task_id>/attachments")
@token_required
def add_attachment(task_id: str) -> Any:
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInputError("send the file as multipart/form-data field 'file'")
    view = collaboration.add_attachment(current_engine(), task_id, actor=g.actor, filename=upload.filename or "",
                                        content=upload.read())
    return jsonify(to_json(view)), 201


@bp.get(f"/attachments/<int(max={INT64_MAX}):attachment_id>")
@token_required
def get_attachment(attachment_id: int) -> Any:
    view, content = collaboration.read_attachment(current_engine(), attachment_id, actor=g.actor)
    response = make_response(content)
    response.headers["Content-Type"] = view.content_type
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(view.filename)}"
    return response


@bp.post("/tasks/bulk")
@token_required
def bulk() -> Any:
    data = body(schemas.Bulk)
    results = tasks.bulk_transition(current_engine(), data["task_ids"], actor=g.actor, action=data["action"],
                                    assignee=data["user"])
    return jsonify({"results": results})


@bp.post("/messages")
@token_required
def deliver_message() -> Any:
    data = body(schemas.Message)
    # Idempotency keys are (source, message_id): a caller's sources are its own, never another's (the complaints
    # service's or another integration's), so nobody can use up or answer for someone else's message ids.
    data["source"] = f"{g.actor.username}/{data['source']}"
    result = messages.deliver_message(current_engine(), actor=g.actor, **data)
    return jsonify(to_json(result)), 202


@bp.get("/outbox")
@token_required
def list_outbox() -> Any:
    args = request.args
    views = outbox.list_messages(current_engine(), actor=g.actor, status=args.get("status", "dead"),
                                 limit=args.get("limit", 50, type=int), before_id=int_arg("before_id"))
    return jsonify({"items": to_json(views)})


@bp.post(f"/outbox/<int(max={INT64_MAX}):message_id>/retry")
@token_required
def retry_outbox(message_id: int) -> Any:
    return jsonify(to_json(outbox.retry_message(current_engine(), message_id, actor=g.actor)))


from web.api import designer as _designer  # noqa: E402,F401  (the designer's routes, on this blueprint)
from web.api import governance as _governance  # noqa: E402,F401  (/grants and /approvals)
from web.api import search as _search  # noqa: E402,F401  (GET /search)
from web.api import worklist as _worklist  # noqa: E402,F401  (claim next, notifications)
