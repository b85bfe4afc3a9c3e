"""Customer pages: the list with search, the 360 view with an audited reveal, and imports with a progress bar.

Views parse the request, call one engine service, render. The import runs in a background thread
(``run_import`` commits its counters row by row); the run's page polls ``GET /customers/imports/<id>``
as JSON (``Accept: application/json`` or ``?format=json``) through a small script served from this
blueprint (the Content-Security-Policy allows scripts from 'self' only), and refreshes itself without
JavaScript. Nothing personal is put in the URL, the session or a log line: a revealed phone number is
rendered once in the POST's answer.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine.context import EngineContext
from engine.customers import customer360
from engine.customers import imports as customer_import
from engine.customers.service import TIERS
from engine.errors import EngineError, InvalidInputError, PermissionDeniedError
from engine.views import Actor
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine

bp = Blueprint("customers", __name__, url_prefix="/customers")
log = logging.getLogger(__name__)
THREADS_KEY = "careflow.import_threads"
FILTERS = ("q", "tier", "manager", "branch")


def api_json(value: Any) -> Any:
    """An engine view as JSON: dates ISO, money as a string with two decimals (no float rounding)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: api_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (list, tuple)):
        return [api_json(v) for v in value]
    if isinstance(value, dict):
        return {k: api_json(v) for k, v in value.items()}
    return value


# Pages that open a timeline item, by kind: (endpoint, its argument). Endpoints not registered give no link.
LINKS = {"task": ("inbox.task", "task_id"), "instance": ("api.get_instance", "instance_id"),
         "complaint": ("complaints_desk.case", "case_no")}


def timeline_link(item: customer360.TimelineItem) -> str | None:
    target = LINKS.get(item.kind)
    if target is None or target[0] not in current_app.view_functions:
        return None
    return url_for(target[0], **{target[1]: item.subject_id})


def _with_links(view: customer360.Customer360) -> dict[str, Any]:
    data: dict[str, Any] = api_json(view)
    for item, shown in zip(view.timeline.items, data["timeline"]["items"], strict=True):
        shown["link"] = timeline_link(item)
    return data


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.args.get("format") == "json" or best == "application/json"


@bp.get("")
@login_required
def index() -> Any:
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    page = customer360.list_customers(current_engine(), actor=current_actor(), q=filters["q"] or None,
                                      tier=filters["tier"] or None, manager=filters["manager"] or None,
                                      branch=filters["branch"] or None, cursor=request.args.get("cursor") or None)
    return render_template("customers.html", actor=current_actor(), page=page, filters=filters, tiers=TIERS)


def _detail(customer_id: str, revealed: dict[str, str] | None = None) -> Any:
    view = customer360.customer_360(current_engine(), customer_id, current_actor(),
                                    timeline_cursor=request.args.get("tl") or None)
    today = current_engine().clock.now().astimezone(current_engine().settings.zone).date()
    return render_template("customer_360.html", actor=current_actor(), c=view, revealed=revealed or {}, today=today,
                           link=timeline_link)


@bp.get("/<customer_id>")
@login_required
def detail(customer_id: str) -> Any:
    return _detail(customer_id)


@bp.post("/<customer_id>/reveal")
@login_required
def reveal(customer_id: str) -> Any:
    check_csrf()
    field = request.form.get("field", "phone")
    try:
        value = customer360.reveal_contact(current_engine(), customer_id, field, current_actor(),
                                           reason=request.form.get("reason", "").strip())
    except (PermissionDeniedError, InvalidInputError) as exc:
        flash(exc.message, "error")
        return redirect(url_for("customers.detail", customer_id=customer_id), 303)
    return _detail(customer_id, revealed={field: value})


# --- import -------------------------------------------------------------------------------------------------------


@bp.get("/import")
@login_required
def import_form() -> Any:
    actor = current_actor()
    if not actor.is_supervisor:
        abort(403)
    return render_template("customer_import.html", actor=actor)


def _read(name: str) -> bytes | None:
    upload = request.files.get(name)
    if upload is None or not upload.filename:
        return None
    caps = current_engine().settings.uploads
    content = upload.read(caps.max_bytes + 1)
    if len(content) > caps.max_bytes:
        raise InvalidInputError(_("%(name)s: at most %(mb)s MB", name=name, mb=caps.max_mb))
    return content


@bp.post("/import")
@login_required
def import_upload() -> Any:
    check_csrf()
    actor, ctx = current_actor(), current_engine()
    if not actor.is_supervisor:
        abort(403)
    upload = request.files.get("file")
    try:
        content = _read("file")
        if content is None or upload is None:
            raise InvalidInputError(_("Choose the customer file"))
        name = upload.filename or "upload"
        fmt = request.form.get("format") or ("json" if name.lower().endswith(".json") else "csv")
        extra = {"accounts": _read("accounts"), "holdings": _read("holdings")} if fmt == "csv" else {}
        run_id = customer_import.create_import_run(ctx, name, fmt, actor=actor)
    except InvalidInputError as exc:
        flash(exc.message, "error")
        return render_template("customer_import.html", actor=actor), 400
    thread = threading.Thread(target=_run_in_background, args=(ctx, run_id, fmt, content, actor, extra),
                              name=f"customer-import-{run_id}", daemon=True)
    current_app.extensions.setdefault(THREADS_KEY, {})[run_id] = thread
    thread.start()
    return redirect(url_for("customers.import_run", run_id=run_id), 303)


def _run_in_background(ctx: EngineContext, run_id: int, fmt: str, content: bytes, actor: Actor,
                       extra: dict[str, bytes | None]) -> None:
    try:
        customer_import.run_import(ctx, run_id, fmt, content, actor=actor, **extra)
    except EngineError as exc:  # recorded on the run so the page stops polling and says why
        log.warning("customer import %s failed: %s", run_id, exc.code)
        customer_import.fail_import_run(ctx, run_id, exc.message, actor=actor)
    except Exception as exc:  # noqa: BLE001 - a thread has nobody else to report to
        log.exception("customer import %s failed", run_id)
        customer_import.fail_import_run(ctx, run_id, type(exc).__name__, actor=actor)


def wait_for_import(app: Any, run_id: int, timeout: float = 30.0) -> None:
    """Tests and the CLI: wait until the background import thread of ``run_id`` has ended."""
    thread = app.extensions.get(THREADS_KEY, {}).get(run_id)
    if thread is not None:
        thread.join(timeout)


@bp.get("/imports/<int:run_id>")
@login_required
def import_run(run_id: int) -> Any:
    run = customer_import.get_import_run(current_engine(), run_id, actor=current_actor())
    if _wants_json():
        return jsonify(api_json(run) | {"percent": run.percent})
    return render_template("customer_import_run.html", actor=current_actor(), run=run)


POLL_JS = """// Polls the import run as JSON, moves the progress bar and the counts; reloads the page when the run ends.
(function () {
  var box = document.getElementById("import-run");
  if (!box) { return; }
  var url = box.getAttribute("data-poll");
  function tick() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (run) {
        document.getElementById("progress").value = run.percent;
        document.querySelectorAll("#progress-text [data-count]").forEach(function (el) {
          el.textContent = run[el.getAttribute("data-count")];
        });
        if (run.status === "running") { setTimeout(tick, 700); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 500);
})();
"""


@bp.get("/imports/poll.js")
def poll_js() -> Any:
    return Response(POLL_JS, mimetype="application/javascript")


# --- REST (/api/v1, on the API blueprint: bearer token or browser session) ------------------------------------------

from web.api import bp as api_bp  # noqa: E402  (web.api imports this module at its end to register these routes)
from web.auth import token_required  # noqa: E402


@api_bp.get("/customers")
@token_required
def list_customers() -> Any:
    args = request.args
    page = customer360.list_customers(
        current_engine(), actor=g.actor, q=args.get("q") or None, tier=args.get("tier") or None,
        manager=args.get("manager") or None, branch=args.get("branch") or None, cursor=args.get("cursor") or None,
        limit=args.get("limit", 25, type=int))
    return jsonify(api_json(page))


@api_bp.get("/customers/<customer_id>")
@token_required
def get_customer(customer_id: str) -> Any:
    view = customer360.customer_360(current_engine(), customer_id, g.actor,
                                    timeline_cursor=request.args.get("timeline_cursor") or None,
                                    timeline_limit=request.args.get("timeline_limit", 20, type=int))
    return jsonify(_with_links(view))
