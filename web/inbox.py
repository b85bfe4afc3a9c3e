"""The staff inbox: task lists with filters and keyset pages, the task page, and its transitions.

Views parse the request, call one engine service, render. The task page shows exactly the
transitions the engine's state machine allows this user (``TaskView.actions``); every POST
carries the session's CSRF token. A rejected form comes back with status 422 and the server's
messages next to the fields, keeping what the user typed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.datastructures import MultiDict

from engine.customers import service as customers
from engine.errors import ConflictError, FormValidationError, InvalidInputError, UserNotFoundError
from engine.forms import messages as form_messages
from engine.forms import validate_submission
from engine.services import case_file, collaboration, drafts, instances, sla, tasks
from engine.views import TaskView
from web import case_file as case_words
from web import formrender, worklist
from web.auth import check_csrf, current_actor
from web.designer import CSP, page_data
from web.engine_access import current_engine
from web.error_pages import person_message
from web.i18n import current_language
from web.labels import task_title

bp = worklist.bp  # the list's routes live in web.worklist


@bp.get("")
@login_required
def index() -> Any:
    """The task lists (web.worklist builds the page: names, pages both ways, saved views, live updates)."""
    return worklist.inbox_page()


def _task_page(task: TaskView, *, errors: dict[str, list[str]] | None = None,
               posted: MultiDict[str, str] | None = None, status: int = 200) -> Any:
    ctx, actor = current_engine(), current_actor()
    found = case_file.get_case_file(ctx, task.id, actor=actor)  # the sections the task lists, for this viewer
    # A task that lists no case file still shows whose it is.
    summary = customers.customer_summary(ctx, task.customer_id, actor=actor) if task.customer_id and not (
        found.sections) else None
    draft = drafts.get_draft(ctx, task.id, actor=actor) if "complete" in task.actions else None
    history = instances.get_instance(ctx, task.instance_id, actor=actor).history if actor.is_supervisor or (
        task.assignee == actor.username) else []
    schema = formrender.localized(task.form, current_language()) if task.form else None
    fields = formrender.fields_of(schema) if schema else []
    values = {**(task.data or {}), **(draft.data if draft else {})}
    shown = formrender.current_values(values, posted)
    form_js = _form_js(task, values, schema, fields, errors, posted) if schema else None
    page = render_template("task.html", actor=actor, task=task, customer=summary, history=history, fields=fields,
                           shown=shown, errors=errors or {}, now=ctx.clock.now(), form_js=form_js,
                           case_file=found, draft=draft, **case_words.helpers(),
                           comments=collaboration.list_comments(ctx, task.id, actor=actor),
                           attachments=collaboration.list_attachments(ctx, task.id, actor=actor))
    response = make_response(page, status)
    response.headers["Content-Security-Policy"] = CSP  # form-js's stylesheet uses data: images
    return response


def _form_js(task: TaskView, values: dict[str, Any], schema: dict[str, Any], fields: list[formrender.Field],
             errors: dict[str, list[str]] | None, posted: MultiDict[str, str] | None) -> Any:
    """What form-js needs on the task page: the schema in the page's language, the values of its fields (the
    user's draft over the task's data; what was just submitted, after a rejected submit), the server's messages
    by field path, read-only or not."""
    # Only the values the form shows: the task's data also holds the rest of the process's variables.
    shown = {f.path.split(".")[0] for f in fields if f.path}
    data = {k: v for k, v in values.items() if k in shown}
    if posted is not None:
        try:
            data = formrender.posted_json(posted) or data
        except ValueError:
            pass
    return page_data({"schema": schema, "data": data, "errors": errors or {},
                      "messages": form_messages(current_language()), "readOnly": "complete" not in task.actions})


@bp.get("/tasks/<task_id>")
@login_required
def task(task_id: str) -> Any:
    return _task_page(tasks.get_task(current_engine(), task_id, actor=current_actor()))


@bp.post("/tasks/<task_id>/<action>")
@login_required
def transition(task_id: str, action: str) -> Any:
    check_csrf()
    ctx, actor = current_engine(), current_actor()
    try:
        if action == "claim":
            tasks.claim_task(ctx, task_id, actor=actor)
            flash(_("Claimed"), "success")
            if request.form.get("back"):  # claimed from the list: stay on the list
                return worklist.back_to_list()
        elif action == "unclaim":
            tasks.unclaim_task(ctx, task_id, actor=actor)
            flash(_("Returned to the queue"), "success")
            return redirect(url_for("inbox.index", view="queue"))
        elif action == "assign":
            tasks.assign_task(ctx, task_id, actor=actor, assignee=request.form.get("assignee", "").strip())
            flash(_("Assigned"), "success")
        elif action == "pause":
            sla.pause_sla(ctx, task_id, actor=actor, reason=request.form.get("reason", "").strip() or "—")
            flash(_("SLA paused"), "success")
        elif action == "resume":
            sla.resume_sla(ctx, task_id, actor=actor)
            flash(_("SLA resumed"), "success")
        elif action == "delegate":
            tasks.delegate_task(ctx, task_id, actor=actor, to=request.form.get("to", "").strip())
            flash(_("Delegated: it comes back to you when resolved"), "success")
        elif action == "resolve":
            tasks.resolve_task(ctx, task_id, actor=actor)
            flash(_("Resolved back to the owner"), "success")
            return redirect(url_for("inbox.index"))
        elif action == "comment":
            collaboration.add_comment(ctx, task_id, actor=actor, text=request.form.get("text", ""))
        elif action == "attach":
            upload = request.files.get("file")
            collaboration.add_attachment(ctx, task_id, actor=actor, filename=(upload.filename or "") if upload else "",
                                         content=upload.read() if upload else b"")
            flash(_("Attachment uploaded"), "success")
        elif action == "complete":
            return _complete(task_id)
        elif action == "draft":
            drafts.save_draft(ctx, task_id, _posted_data(tasks.get_task(ctx, task_id, actor=actor)), actor=actor)
            flash(_("Draft saved: it is here when you open the task again"))
        elif action == "discard_draft":
            if drafts.discard_draft(ctx, task_id, actor=actor):
                flash(_("Draft discarded"))
        else:
            return "unknown action", 404
    except (UserNotFoundError, ConflictError, InvalidInputError) as exc:
        # A form mistake (unknown colleague, a task someone claimed first) comes back as a message on the same
        # page, never as the API's JSON; the task page itself answers 404 if the task is gone.
        flash(person_message(exc), "error")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int) -> Any:
    view, content = collaboration.read_attachment(current_engine(), attachment_id, actor=current_actor())
    response = make_response(content)
    response.headers["Content-Type"] = view.content_type
    # Always a download, never rendered inline: an uploaded file must not run in the app's origin.
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(view.filename)}"
    return response


def _posted_data(current: TaskView) -> dict[str, Any]:
    """The form's data as posted: form-js's JSON, or the plain fields parsed by the task's form."""
    try:
        sent = formrender.posted_json(request.form)
    except ValueError as exc:
        raise InvalidInputError(f"{formrender.JSON_FIELD}: {exc}") from exc
    return sent if sent is not None else formrender.parse(current.form, request.form) if current.form else {}


def _complete(task_id: str) -> Any:
    ctx, actor = current_engine(), current_actor()
    current = tasks.get_task(ctx, task_id, actor=actor)
    data = _posted_data(current)
    try:
        if current.form and current_language() == "en":  # the engine's own check answers in Chinese
            validate_submission(current.form, data, lang="en")
        tasks.complete_task(ctx, task_id, actor=actor, data=data)
    except FormValidationError as exc:
        return _task_page(current, errors=exc.details.get("fields", {}), posted=request.form, status=422)
    flash(_("Completed: %(title)s", title=task_title(current)), "success")
    return redirect(url_for("inbox.index", view="mine"))
