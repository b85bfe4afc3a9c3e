"""REST endpoints of the process designer (/api/v1): drafts, deploy from the modeler, import,
versions, XML download, diff, heatmap, instance path and instance migration.

Designers (and admins) deploy, import and migrate; supervisors may look (versions, diff,
heatmap, paths, a migration dry run). The engine services enforce it; these views only parse.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from flask import g, jsonify, make_response, request
from marshmallow import Schema, fields, validate

from engine.bpmn.loader import SourceFile
from engine.errors import InvalidInputError
from engine.services import catalogue, deploy_preview, designer, migration, model_import, trial_run, versions
from web.api import INT32_MAX, bp, int_arg, schemas, to_json
from web.auth import token_required
from web.engine_access import current_engine
from web.problem_text import localized

NAME = r"<any(process, form):kind>"


class SaveDraft(Schema):
    content = fields.String(required=True, validate=validate.Length(max=designer.MAX_DRAFT))
    base_version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=INT32_MAX))
    revision = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=INT32_MAX))


class ModelerDeploy(Schema):
    xml = fields.String(required=True, validate=validate.Length(min=1, max=designer.MAX_DRAFT))
    # the token of the deploy summary the designer confirmed (POST /designer/deploy/preview); refused when stale
    confirmation = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class PreviewDeploy(Schema):
    xml = fields.String(required=True, validate=validate.Length(min=1, max=designer.MAX_DRAFT))


class TrialRunInput(Schema):
    xml = fields.String(required=True, validate=validate.Length(min=1, max=designer.MAX_DRAFT))
    variables = fields.Dict(keys=fields.String(), load_default=dict)
    answers = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String()), load_default=dict,
                          validate=validate.Length(max=trial_run.MAX_ANSWERS))


class ImportFile(Schema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=256))
    content = fields.String(required=True, validate=validate.Length(max=designer.MAX_DRAFT))
    files = fields.List(fields.Nested(schemas.DeployFile), load_default=list, validate=validate.Length(max=50))


class Migrate(Schema):
    to_version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=INT32_MAX))
    from_version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=INT32_MAX))
    instance_ids = fields.List(fields.UUID(), load_default=None, allow_none=True,
                               validate=validate.Length(max=migration.MAX_INSTANCES))


def _validate_only() -> bool:
    return request.args.get("validate_only") in ("1", "true")


def _deployed(result: Any) -> Any:
    from web.api import deployed

    return deployed(result)


@bp.get("/designer/drafts")
@token_required
def list_drafts() -> Any:
    kind = request.args.get("kind") or None
    if kind is not None and kind not in designer.KINDS:
        raise InvalidInputError("kind must be process or form")
    return jsonify({"items": to_json(designer.list_drafts(current_engine(), actor=g.actor, kind=kind))})


@bp.get(f"/designer/drafts/{NAME}/<name>")
@token_required
def get_draft(kind: str, name: str) -> Any:
    return jsonify(to_json(designer.get_draft(current_engine(), kind=kind, name=name, actor=g.actor)))


@bp.put(f"/designer/drafts/{NAME}/<name>")
@token_required
def save_draft(kind: str, name: str) -> Any:
    data = schemas.load(SaveDraft, request.get_json(silent=True) if request.content_length else {})
    view = designer.save_draft(current_engine(), kind=kind, name=name, actor=g.actor, **data)
    return jsonify(to_json(view))


@bp.delete(f"/designer/drafts/{NAME}/<name>")
@token_required
def delete_draft(kind: str, name: str) -> Any:
    designer.delete_draft(current_engine(), kind=kind, name=name, actor=g.actor)
    return jsonify({"deleted": True})


@bp.post("/designer/deploy")
@token_required
def deploy_from_modeler() -> Any:
    data = schemas.load(ModelerDeploy, request.get_json(silent=True) if request.content_length else {})
    if _validate_only():  # the modeler's problem list: 200 with the warnings, or 422 with errors and warnings
        warnings = designer.validate_from_modeler(current_engine(), xml=data["xml"], actor=g.actor)
        return jsonify({"valid": True, "problems": [localized(p) for p in warnings]}), 200
    if data["confirmation"] is not None:
        return _deployed(deploy_preview.deploy_confirmed(current_engine(), xml=data["xml"], actor=g.actor,
                                                         confirmation=data["confirmation"]))
    return _deployed(designer.deploy_from_modeler(current_engine(), xml=data["xml"], actor=g.actor))


@bp.post("/designer/deploy/preview")
@token_required
def preview_deploy() -> Any:
    data = schemas.load(PreviewDeploy, request.get_json(silent=True) if request.content_length else {})
    return jsonify(to_json(deploy_preview.preview_deploy(current_engine(), xml=data["xml"], actor=g.actor)))


@bp.post("/designer/trial-run")
@token_required
def trial_run_draft() -> Any:
    data = schemas.load(TrialRunInput, request.get_json(silent=True) if request.content_length else {})
    return jsonify(to_json(trial_run.run_trial(current_engine(), xml=data["xml"], actor=g.actor,
                                               variables=data["variables"], answers=data["answers"])))


@bp.get("/designer/handlers")
@token_required
def list_handlers() -> Any:
    process = request.args.get("process") or None
    if process is not None and (len(process) > 128 or not process.isidentifier()):
        raise InvalidInputError("process must be a process id", details={"field": "process"})
    return jsonify({"items": to_json(catalogue.list_handlers(current_engine(), actor=g.actor, process_key=process))})


@bp.post("/designer/import")
@token_required
def import_definition() -> Any:
    """Deploy a file from another modeler, or with ``as_draft=1`` open it as a draft with what to fix."""
    if request.files:
        uploads = request.files.getlist("file") or list(request.files.values())
        first, rest = uploads[0], uploads[1:]
        filename, content = first.filename or "import.bpmn", first.read(model_import.MAX_IMPORT + 1)
        extra = [SourceFile(u.filename or "", u.read(model_import.MAX_IMPORT + 1)) for u in rest]
        for upload in uploads:
            upload.close()  # a large upload is spooled to a temporary file
    else:
        data = schemas.load(ImportFile, request.get_json(silent=True) if request.content_length else {})
        filename, content = data["filename"], data["content"].encode("utf-8")
        extra = [SourceFile(f["filename"], f["content"].encode("utf-8")) for f in data["files"]]
    process = request.args.get("process") or None
    if request.args.get("as_draft") in ("1", "true"):
        opened = model_import.import_as_draft(current_engine(), filename=filename, content=content, actor=g.actor,
                                              process=process, extra_files=extra)
        return jsonify(draft_import_json(opened)), 201
    result = model_import.import_definition(current_engine(), filename=filename, content=content, actor=g.actor,
                                            validate_only=_validate_only(), extra_files=extra, process=process)
    response, status = _deployed(result.deploy)
    body = dict(response.json)
    body["mapped"] = list(result.mapped)
    body["ignored"] = [p.to_dict() for p in result.ignored]
    body["dropped"] = [p.to_dict() for p in result.dropped]
    return jsonify(body), status


def draft_import_json(opened: model_import.DraftImport) -> dict[str, Any]:
    return {"draft": {"kind": opened.draft.kind, "name": opened.draft.name, "revision": opened.draft.revision},
            "process_key": opened.process_key, "was_executable": opened.was_executable,
            "candidates": list(opened.candidates), "ambiguous": opened.ambiguous, "deployable": opened.deployable,
            "mapped": list(opened.mapped), "ignored": [p.to_dict() for p in opened.ignored],
            "must_fix": [p.to_dict() for p in opened.must_fix], "dropped": [p.to_dict() for p in opened.dropped]}


@bp.get("/designer/forms")
@token_required
def list_forms() -> Any:
    return jsonify({"items": to_json(designer.list_forms(current_engine(), actor=g.actor))})


@bp.get("/designer/forms/<form_id>")
@token_required
def get_form(form_id: str) -> Any:
    return jsonify(designer.get_form(current_engine(), form_id, actor=g.actor))


@bp.get("/definitions/<key>/versions")
@token_required
def list_versions(key: str) -> Any:
    return jsonify({"items": to_json(designer.list_versions(current_engine(), key, actor=g.actor))})


@bp.get(f"/definitions/<key>/versions/<int(max={INT32_MAX}):version>/xml")
@token_required
def download_xml(key: str, version: int) -> Any:
    filename, text = designer.get_process_xml(current_engine(), key, version, actor=g.actor)
    response = make_response(text)
    response.headers["Content-Type"] = "application/xml; charset=utf-8"
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


@bp.post(f"/definitions/<key>/versions/<int(max={INT32_MAX}):version>/suspend")
@token_required
def suspend_version(key: str, version: int) -> Any:
    return jsonify(to_json(versions.suspend(current_engine(), key, version, actor=g.actor)))


@bp.post(f"/definitions/<key>/versions/<int(max={INT32_MAX}):version>/retire")
@token_required
def retire_version(key: str, version: int) -> Any:
    return jsonify(to_json(versions.retire(current_engine(), key, version, actor=g.actor)))


@bp.post(f"/definitions/<key>/versions/<int(max={INT32_MAX}):version>/resume")
@token_required
def resume_version(key: str, version: int) -> Any:
    return jsonify(to_json(versions.resume(current_engine(), key, version, actor=g.actor)))


@bp.get("/definitions/<key>/diff")
@token_required
def diff_versions(key: str) -> Any:
    old, new = int_arg("from", INT32_MAX), int_arg("to", INT32_MAX)
    if old is None or new is None:
        raise InvalidInputError("give the two versions: ?from=1&to=2")
    return jsonify(to_json(designer.diff_versions(current_engine(), key, old, new, actor=g.actor)))


@bp.get("/definitions/<key>/heatmap")
@token_required
def heatmap(key: str) -> Any:
    all_versions = request.args.get("version") == "all"
    version = None if all_versions else int_arg("version", INT32_MAX)
    period = designer.Period(_day("from"), _day("to"))
    return jsonify({"items": to_json(designer.heatmap(current_engine(), key, version, actor=g.actor,
                                                      all_versions=all_versions, period=period))})


def _day(name: str) -> date | None:
    """A calendar day (YYYY-MM-DD) query argument; 400 when it is not one."""
    text = request.args.get(name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{name} must be a date (YYYY-MM-DD)", details={"field": name}) from None


@bp.post("/definitions/<key>/migrations/dry-run")
@token_required
def plan_migration(key: str) -> Any:
    data = _migration_body()
    return _report(migration.plan_migration(current_engine(), process_key=key, actor=g.actor, **data))


@bp.post("/definitions/<key>/migrations")
@token_required
def migrate_instances(key: str) -> Any:
    data = _migration_body()
    return _report(migration.migrate_instances(current_engine(), process_key=key, actor=g.actor, **data))


def _migration_body() -> dict[str, Any]:
    data = schemas.load(Migrate, request.get_json(silent=True) if request.content_length else {})
    if data["instance_ids"] is not None:
        data["instance_ids"] = [str(i) for i in data["instance_ids"]]
    return data


def _report(report: migration.MigrationReport) -> tuple[Any, int]:
    """200 with what moved (or the dry run); 202 while the migration awaits a second person."""
    return jsonify(to_json(report)), 202 if report.approval_id is not None else 200


@bp.get("/instances/<instance_id>/path")
@token_required
def instance_path(instance_id: str) -> Any:
    return jsonify(to_json(designer.instance_path(current_engine(), instance_id, actor=g.actor)))
