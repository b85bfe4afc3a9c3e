"""The process designer's pages (/designer): processes, modeler, form editor, versions, diff,
migration, instance view and heatmap.

The pages hand their data to the browser bundles (frontend/, built into web/static/build/) as a
JSON ``<script type="application/json">`` block; the bundles talk to /api/v1 with the session.
Designers and admins change things; supervisors may look.
"""

from __future__ import annotations

import json
from datetime import date
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
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from engine.services import catalogue, definitions, designer, instances, migration, model_import, versions
from web import labels
from web.api import to_json
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine
from web.i18n import current_language
from web.labels import element_names, label, one_language

bp = Blueprint("designer", __name__, url_prefix="/designer")
# bpmn-js and form-js draw icons and fonts from data: URIs; scripts still only from this origin.
CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'")

NEW_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  xmlns:careflow="http://careflow.example/schema/bpmn-i18n"
  id="Definitions_{key}" targetNamespace="http://careflow.example/bpmn">
  <bpmn:process id="{key}" name="{key}" isExecutable="true">
    <bpmn:startEvent id="start" name="开始" careflow:nameEn="Start"/>
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
        # token simulation (frontend/src/simulation.js): the library's English texts, in the page's language
        "simStart": _("Token simulation"), "simStop": _("Leave token simulation"),
        "simLog": _("Simulation log"), "simLogTitle": _("Simulation log"), "simNoEntries": _("No entries"),
        "simReset": _("Reset the simulation"), "simPause": _("Play or pause"),
        "simSetFlow": _("Take this sequence flow"), "simAddPause": _("Pause here"),
        "simRemovePause": _("Do not pause here"), "simTrigger": _("Trigger the event"), "simClose": _("Close"),
        "simSpeed": _("Animation speed {speed}"), "simUnsupported": _("Elements the simulation cannot play"),
        "simNotSupported": _("Not supported"), "simProcessStarted": _("Process started"),
        "simProcessFinished": _("Process finished"), "simProcessCanceled": _("Process cancelled"),
        "simStarted": _("{name} started"), "simFinished": _("{name} finished"), "simCanceled": _("{name} cancelled"),
        # the deploy summary (frontend/src/deploy-dialog.js)
        "previewing": _("Preparing the deploy summary…"), "firstVersion": _("First version of this process"),
        "liveVersion": _("Live version: v{n}"), "nextVersion": _("Becomes version v{n}"),
        "identical": _("Identical to the live version: deploying changes nothing"),
        "changes": _("Changes against the live version"), "added": _("Added"), "removed": _("Removed"),
        "changed": _("Changed"), "noChanges": _("No element changed"),
        "liveInstances": _("Live instances: {n} (on the live version: {m})"),
        "migrationTitle": _("Migration dry run: {ok} of {n} could move to the new version"),
        "canMigrate": _("can migrate"), "cannotMigrate": _("cannot migrate"), "instance": _("Instance"),
        "businessKey": _("Business key"), "fromVersion": _("From"), "why": _("Why"),
        "needsApproval": _("A second person must approve this version before it goes live (it has live instances)."),
        "goesLive": _("New instances start on it at once."), "confirm": _("Deploy"),
        "confirmApproval": _("Ask for approval"), "cancel": _("Cancel"), "deployTitle": _("Deploy a new version"),
        "stale": _("The diagram or the live version changed since the summary: look at it again."),
        "moreInstances": _("and {n} more"),
        "reasonMissing": _("its waiting step {name} is not in the new version"),
        "reasonKind": _("its waiting step {name} is another kind of step in the new version"),
        "reasonTaken": _("a step it already took no longer exists"),
        "reasonState": _("its state could not be moved"),
        # the trial run (frontend/src/trial-run.js)
        "trialTitle": _("Test run with sample data"), "trialVariables": _("Sample start variables (JSON)"),
        "trialAnswers": _("Answers per user task (JSON: task id → form data; optional)"),
        "trialRun": _("Run"), "trialRunning": _("Running in a throw-away database…"),
        "trialBadJson": _("Not valid JSON: {error}"), "trialStatus": _("Result"),
        "trial_completed": _("Reached the end"), "trial_waiting": _("Waits (timer, message or another event)"),
        "trial_error": _("Stopped on an error"), "trial_step_limit": _("Stopped at the step limit (a loop?)"),
        "trialPath": _("Path taken"), "trialTasks": _("User tasks completed"), "trialVariablesEnd": _("Variables at the end"),
        "trialError": _("Error at {element}: {message}"), "trialSimulated": _("Not called (answered by a stub): {names}"),
        "trialWaitsIn": _("Waits in"), "trialElement": _("Element"), "trialTimes": _("Times"),
        "trialNoTasks": _("None"), "trialClose": _("Close"),
        # the service handler field (frontend/src/handler-field.js) and the English name field
        "handler": _("Service handler"), "handlerNone": _("(choose a handler)"),
        "handlerRequired": _("Required parameters: {names}"), "handlerNotAllowed": _("not allowed for this process"),
        "handlerUnknown": _("Not in the catalogue: {name}"), "nameEn": _("English name"),
        "nameEnHelp": _("careflow:nameEn, shown on English pages (the name field holds the Chinese name)"),
    }


@bp.get("/handlers")
def handlers() -> Any:
    """The catalogue of service handlers a designer may use, with their parameters and bindings."""
    ctx, actor = current_engine(), current_actor()
    type_labels = {"str": _("text"), "number": _("number"), "boolean": _("yes/no"), "object": _("object"),
                   "list": _("list"), "any": _("any value")}
    return render_template("designer/handlers.html", actor=actor, lang=current_language(), type_labels=type_labels,
                           handlers=catalogue.list_handlers(ctx, actor=actor))


@bp.post("/drafts/<any(process, form):kind>/<name>/discard")
def discard_draft(kind: str, name: str) -> Any:
    check_csrf()
    if not _can_change():
        abort(403)
    try:
        designer.delete_draft(current_engine(), kind=kind, name=name, actor=current_actor())
    except NotFoundError:
        abort(404)
    flash(_("Draft discarded"), "success")
    return redirect(url_for("designer.index"), 303)


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
            "draft_revision": draft.revision if draft else None, "messages": modeler_messages(),
            "handlers": _plain(catalogue.list_handlers(ctx, actor=actor, process_key=key)), "lang": _lang()}
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
    data = {"form_id": form_id, "schema": schema, "revision": revision, "lang": _lang(), "messages": {
        "saved": _("Form draft saved (revision {n}); it is deployed with the next process version"),
        "cannotOpen": _("Cannot open the form:"), "discarded": _("Draft discarded"),
        "confirmDiscard": _("Discard this form draft? The form goes back to its deployed version."),
        # the palette (frontend/src/form-palette.js): only what the engine supports, in the page's language
        "fieldTextfield": _("Text field"), "fieldTextarea": _("Text area"), "fieldNumber": _("Number"),
        "fieldCheckbox": _("Checkbox"), "fieldDatetime": _("Date and time"), "fieldSelect": _("Drop-down list"),
        "fieldRadio": _("Radio buttons"), "fieldChecklist": _("Check list"), "fieldTaglist": _("Tag list"),
        "fieldGroup": _("Group"), "fieldText": _("Text"), "fieldSpacer": _("Spacer"), "fieldSeparator": _("Separator"),
        "paletteTitle": _("Components"), "groupInput": _("Input"), "groupSelection": _("Selection"),
        "groupPresentation": _("Presentation"), "groupContainers": _("Containers"), "groupAction": _("Action"),
        "paletteEmpty": _("No components found."), "paletteSearch": _("Search components"),
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
    """Per element of a version (or of all versions), from the activity history: how often it was entered, how many
    are active, how they ended and how long the completed ones took, on the diagram and in a table, with one duration
    formatter for both (``web.labels.duration``). Filters: ``version`` (a number or ``all``), ``from``/``to`` (days
    in the bank's zone)."""
    ctx, actor = current_engine(), current_actor()
    all_versions = request.args.get("version") == "all"
    version = None if all_versions else request.args.get("version", type=int)
    period = designer.Period(_day(request.args.get("from")), _day(request.args.get("to")))
    try:
        view = definitions.get_definition(ctx, key, version)
        _filename, xml = designer.get_process_xml(ctx, key, view.version, actor=actor)
        versions = designer.list_versions(ctx, key, actor=actor)
    except DefinitionNotFoundError:
        abort(404)
    stats = designer.heatmap(ctx, key, view.version, actor=actor, all_versions=all_versions, period=period)
    names = element_names(key)
    rows = [{"element_id": s.element_id, "title": one_language(s.title, names.get(s.element_id, ("", None))[1]),
             "kind": label(s.kind, "element_kind"), "count": s.count, "open": s.open, "completed": s.completed,
             "cancelled": s.cancelled, "failed": s.failed, "avg": labels.duration(s.avg_seconds),
             "p90": labels.duration(s.p90_seconds), "avg_seconds": s.avg_seconds, "p90_seconds": s.p90_seconds}
            for s in stats]
    data = {"mode": "heatmap", "xml": xml, "stats": rows,
            "labels": {"entered": _("Entered"), "active": _("Active now"), "mean": _("Mean"), "p90": _("90th percentile")}}
    return render_template("designer/heatmap.html", actor=actor, key=key, version=view.version, rows=rows,
                           versions=versions, all_versions=all_versions, period=period, data=page_data(data))


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@bp.get("/instances/<instance_id>")
def instance(instance_id: str) -> Any:
    ctx, actor = current_engine(), current_actor()
    try:
        path = designer.instance_path(ctx, instance_id, actor=actor)
    except InstanceArchivedError:  # its summary and audit trail stay readable; its path and data are gone
        try:
            view = instances.get_instance(ctx, instance_id, actor=actor)
        except PermissionDeniedError:
            view = None
        return render_template("designer/instance_archived.html", actor=actor, instance_id=instance_id, view=view)
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


VERSION_ACTIONS = {"suspend": versions.SUSPENDED, "retire": versions.RETIRED, "resume": versions.ACTIVE}


@bp.post("/processes/<key>/versions/<int:version>/status")
def version_status(key: str, version: int) -> Any:
    """Suspend, retire or resume one version (designers and admins)."""
    check_csrf()
    action = request.form.get("action", "")
    if action not in VERSION_ACTIONS:
        abort(400)
    if not _can_change():
        abort(403)
    try:
        view = versions.set_status(current_engine(), key, version, VERSION_ACTIONS[action], actor=current_actor())
    except DefinitionNotFoundError:
        abort(404)
    except EngineError as exc:
        flash(exc.message, "error")
        return redirect(url_for("designer.process", key=key), 303)
    messages = {"suspend": _("v%(version)s is suspended: it starts no new instances", version=view.version),
                "retire": _("v%(version)s is retired", version=view.version),
                "resume": _("v%(version)s starts new instances again", version=view.version)}
    flash(messages[action], "success")
    return redirect(url_for("designer.process", key=key), 303)


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
    """Open a file from another modeler as a draft (with what to fix), or import and deploy it at once."""
    check_csrf()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a file"), "error")
        return redirect(url_for("designer.index"))
    ctx, actor = current_engine(), current_actor()
    content = upload.read(model_import.MAX_IMPORT + 1)
    upload.close()  # a large upload is spooled to a temporary file
    process = request.form.get("process") or None
    if request.form.get("mode") == "draft":  # the page's "Open as a draft" button; without a mode: deploy
        try:
            opened = model_import.import_as_draft(ctx, filename=upload.filename, content=content, actor=actor,
                                                  process=process)
        except InvalidInputError as exc:
            problems = exc.details.get("problems") or [{"file": upload.filename, "message": exc.message}]
            return render_template("designer/import_result.html", actor=actor, filename=upload.filename,
                                   problems=problems), 400
        except EngineError as exc:
            flash(exc.message, "error")
            return redirect(url_for("designer.index"))
        return render_template("designer/import_draft.html", actor=actor, filename=upload.filename, opened=opened)
    try:
        result = model_import.import_definition(ctx, filename=upload.filename, content=content, actor=actor,
                                                process=process)
    except InvalidDefinitionError as exc:
        return render_template("designer/import_result.html", actor=actor, filename=upload.filename,
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


def _lang() -> str:
    return current_language()
