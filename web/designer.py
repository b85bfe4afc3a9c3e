"""The process designer's pages (/designer): processes, modeler, form editor, versions, diff,
migration, instance view and heatmap.

The pages hand their data to the browser bundles (frontend/, built into web/static/build/) as a
JSON ``<script type="application/json">`` block; the bundles talk to /api/v1 with the session.
Designers and admins change things; supervisors may look.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from markupsafe import Markup

from engine.errors import (
    DefinitionNotFoundError,
    EngineError,
    InstanceArchivedError,
    InvalidDefinitionError,
    NotFoundError,
    PermissionDeniedError,
)
from engine.services import definitions, designer, instances, migration
from web.api import to_json
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine
from web.error_pages import error_page

bp = Blueprint("designer", __name__, url_prefix="/designer")
# bpmn-js and form-js draw icons and fonts from data: URIs; scripts still only from this origin.
CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'")

NEW_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  id="Definitions_{key}" targetNamespace="http://careflow.example/bpmn">
  <bpmn:process id="{key}" name="{key}" isExecutable="true">
    <bpmn:startEvent id="start" name="开始 Start"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_{key}">
    <bpmndi:BPMNPlane id="Plane_{key}" bpmnElement="{key}">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="180" y="160" width="36" height="36"/>
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
NEW_FORM = {"type": "default", "components": [], "schemaVersion": 16}


@bp.before_request
@login_required
def _designers_and_supervisors() -> None:
    if not current_actor().has_role("designer", "supervisor"):
        abort(403)


@bp.after_request
def _csp(response: Any) -> Any:
    response.headers["Content-Security-Policy"] = CSP
    return response


def page_data(data: dict[str, Any]) -> Markup:
    """JSON for a ``<script type="application/json">`` block (``</`` cannot close it early)."""
    text = json.dumps(data, ensure_ascii=False, default=str).replace("</", "<\\/")
    return Markup(text)  # noqa: S704 - JSON with "</" escaped, inside a non-executed script element


def _can_change() -> bool:
    return current_actor().has_role("designer")


@bp.get("")
def index() -> Any:
    ctx, actor = current_engine(), current_actor()
    return render_template(
        "designer/index.html", actor=actor, can_change=_can_change(), processes=definitions.list_definitions(ctx),
        drafts=designer.list_drafts(ctx, actor=actor), forms=designer.list_forms(ctx, actor=actor),
    )


@bp.get("/processes/<key>")
def process(key: str) -> Any:
    ctx, actor = current_engine(), current_actor()
    try:
        versions = designer.list_versions(ctx, key, actor=actor)
    except DefinitionNotFoundError:
        abort(404)
    return render_template("designer/process.html", actor=actor, can_change=_can_change(), key=key,
                           versions=versions, report=None)


def modeler_messages() -> dict[str, str]:
    """What the modeler's script says, in the page's language (the script has no catalogue of its own);
    ``{n}`` and ``{id}`` are filled in by the script."""
    return {
        "draftSaved": _("Draft saved (revision {n})"), "validating": _("Validating…"), "deploying": _("Deploying…"),
        "problems": _("{n} problem(s)"), "line": _("line {n}"), "waiting": _("Waiting for a second person's approval #{id}"),
        "valid": _("Valid"), "deployed": _("Deployed version {n}"), "same": _("Same as version {n}"),
        "importWarnings": _("Import warnings:"), "cannotOpen": _("Cannot open the diagram:"),
        "confirmDeploy": _("Deploy this diagram as a new version? New instances start on it at once."),
        "confirmDiscard": _("Discard this draft? Your saved changes since the deployed version are lost."),
        "discarded": _("Draft discarded"),
    }


@bp.get("/modeler/<key>")
def modeler(key: str) -> Any:
    ctx, actor = current_engine(), current_actor()
    version = request.args.get("version", type=int)
    draft = None
    if version is None and request.args.get("fresh") != "1":
        try:
            draft = designer.get_draft(ctx, kind="process", name=key, actor=actor)
        except NotFoundError:
            draft = None
    if draft is not None:
        xml, base, source = draft.content, draft.base_version, "draft"
    else:
        try:
            _, xml = designer.get_process_xml(ctx, key, version, actor=actor)
        except DefinitionNotFoundError:
            if not key.isidentifier() or len(key) > 100:
                abort(404)
            xml = NEW_PROCESS.replace("{key}", key)
            source = "new"
            base = None
        else:
            base = version or definitions.get_definition(ctx, key).version
            source = "version"
    data = {"key": key, "xml": xml, "base_version": base, "source": source,
            "draft_revision": draft.revision if draft else None, "messages": modeler_messages()}
    return render_template("designer/modeler.html", actor=actor, can_change=_can_change(), key=key, source=source,
                           base_version=base, data=page_data(data))


@bp.post("/modeler")
def new_process() -> Any:
    check_csrf()
    key = request.form.get("key", "").strip()
    if not key.isidentifier() or len(key) > 100:
        flash(_("The process id must be letters, digits and _ (not starting with a digit)"), "error")
        return redirect(url_for("designer.index"))
    return redirect(url_for("designer.modeler", key=key))


@bp.get("/forms/<form_id>")
def form_editor(form_id: str) -> Any:
    ctx, actor = current_engine(), current_actor()
    try:
        schema = designer.get_form(ctx, form_id, actor=actor)
    except NotFoundError:
        schema = dict(NEW_FORM, id=form_id)
    try:
        revision: int | None = designer.get_draft(ctx, kind="form", name=form_id, actor=actor).revision
    except NotFoundError:
        revision = None
    data = {"form_id": form_id, "schema": schema, "revision": revision, "messages": {
        "saved": _("Form draft saved (revision {n}); it is deployed with the next process version"),
        "cannotOpen": _("Cannot open the form:"), "discarded": _("Draft discarded"),
        "confirmDiscard": _("Discard this form draft? The form goes back to its deployed version."),
    }}
    return render_template("designer/form_editor.html", actor=actor, can_change=_can_change(), form_id=form_id,
                           data=page_data(data), has_draft=revision is not None)


@bp.get("/processes/<key>/diff")
def diff(key: str) -> Any:
    ctx, actor = current_engine(), current_actor()
    old, new = request.args.get("from", type=int), request.args.get("to", type=int)
    if old is None or new is None:
        abort(400)
    try:
        _, old_xml = designer.get_process_xml(ctx, key, old, actor=actor)
        _, new_xml = designer.get_process_xml(ctx, key, new, actor=actor)
    except DefinitionNotFoundError:
        abort(404)
    changes = designer.diff_versions(ctx, key, old, new, actor=actor)
    data = {"mode": "diff", "old_xml": old_xml, "new_xml": new_xml, "diff": _plain(changes)}
    return render_template("designer/diff.html", actor=actor, key=key, old=old, new=new, changes=changes,
                           data=page_data(data))


@bp.get("/processes/<key>/heatmap")
def heatmap(key: str) -> Any:
    ctx, actor = current_engine(), current_actor()
    version = request.args.get("version", type=int)
    try:
        view = definitions.get_definition(ctx, key, version)
        _, xml = designer.get_process_xml(ctx, key, view.version, actor=actor)
    except DefinitionNotFoundError:
        abort(404)
    stats = designer.heatmap(ctx, key, view.version, actor=actor)
    data = {"mode": "heatmap", "xml": xml, "stats": _plain(stats)}
    return render_template("designer/heatmap.html", actor=actor, key=key, version=view.version, stats=stats,
                           data=page_data(data))


@bp.get("/instances/<instance_id>")
def instance(instance_id: str) -> Any:
    ctx, actor = current_engine(), current_actor()
    try:
        path = designer.instance_path(ctx, instance_id, actor=actor)
    except InstanceArchivedError:
        gone = _("This instance was archived under the retention rules: its summary and audit trail are kept, its path and data are not.")  # noqa: E501 - one literal for the catalogue
        return error_page(404, gone, translated=True)
    except (NotFoundError, EngineError):
        abort(404)
    _version, xml = designer.get_process_xml(ctx, path.process_key, path.version, actor=actor)
    try:  # its history and data only for who may read the instance; a designer sees the path
        view = instances.get_instance(ctx, instance_id, actor=actor)
    except PermissionDeniedError:
        view = None
    data = {"mode": "instance", "xml": xml, "path": _plain(path)}
    return render_template("designer/instance.html", actor=actor, path=path, view=view, data=page_data(data))


@bp.post("/processes/<key>/start")
def start(key: str) -> Any:
    check_csrf()
    version = request.form.get("version", type=int)
    try:
        view = instances.start_instance(current_engine(), process_key=key, actor=current_actor(), version=version)
    except EngineError as exc:
        flash(exc.message, "error")
        return redirect(url_for("designer.process", key=key))
    flash(_("Instance started (v%(version)s)", version=view.definition_version), "success")
    return redirect(url_for("designer.instance", instance_id=view.id))


@bp.post("/processes/<key>/migration")
def migrate(key: str) -> Any:
    check_csrf()
    ctx, actor = current_engine(), current_actor()
    to_version = request.form.get("to_version", type=int)
    execute = request.form.get("execute") == "1"
    ids = request.form.getlist("instance_id") or None
    try:
        run = migration.migrate_instances if execute else migration.plan_migration
        report = run(ctx, process_key=key, actor=actor, to_version=to_version, instance_ids=ids)
    except EngineError as exc:
        flash(exc.message, "error")
        return redirect(url_for("designer.process", key=key))
    return render_template("designer/process.html", actor=actor, can_change=_can_change(), key=key,
                           versions=designer.list_versions(ctx, key, actor=actor), report=report, executed=execute)


@bp.post("/import")
def import_file() -> Any:
    check_csrf()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a file"), "error")
        return redirect(url_for("designer.index"))
    try:
        result = designer.import_definition(current_engine(), filename=upload.filename, content=upload.read(),
                                            actor=current_actor())
    except InvalidDefinitionError as exc:
        return render_template("designer/import_result.html", actor=current_actor(), filename=upload.filename,
                               problems=exc.problems), 422
    except EngineError as exc:
        flash(exc.message, "error")
        return redirect(url_for("designer.index"))
    assert result.deploy is not None
    view = result.deploy.definition
    if result.mapped:
        flash(_("Imported and deployed %(key)s v%(version)s (mapped: %(mapped)s)", key=view.key, version=view.version,
                mapped="; ".join(result.mapped)), "success")
    else:
        flash(_("Imported and deployed %(key)s v%(version)s", key=view.key, version=view.version), "success")
    return redirect(url_for("designer.process", key=view.key))


def _plain(value: Any) -> Any:
    return to_json(value)
