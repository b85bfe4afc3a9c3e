"""The portal's data-subject requests (/portal/requests): a signed-in customer asks for a copy of their personal data
(PIPL Art. 45) or its deletion (Art. 47), follows the request, reads the answer and downloads the copy.

Routes on the portal's blueprint (its session, CSRF token and 404 for anything not the customer's own); registered
by importing this module (web/__init__.py). The requests themselves are engine.dsr.service's.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, redirect, request, url_for
from flask_babel import gettext as _

from engine.dsr import export
from engine.dsr import service as dsr
from engine.errors import ConflictError, InvalidInputError
from web.complaints.portal import _page, bp, customer_required
from web.engine_access import current_engine

MIME = {"json": "application/json", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _list(error: str | None = None, status: int = 200) -> Any:
    ctx = current_engine()
    return _page("requests.html", status, items=dsr.customer_requests(ctx, actor=g.customer), error=error,
                 workdays=ctx.settings.retention.dsr_answer_workdays, kind=request.form.get("kind", ""))


@bp.get("/requests")
@customer_required
def requests_list() -> Any:
    return _list()


@bp.post("/requests")
@customer_required
def file_request() -> Any:
    kind = request.form.get("kind", "")
    if kind not in dsr.KINDS:
        return _list(_("Choose what you ask for"), 422)
    if kind == "deletion" and request.form.get("confirm") != "1":
        return _list(_("Tick the box to confirm that you ask for the deletion of your personal data"), 422)
    try:
        view = dsr.file_request(current_engine(), kind, actor=g.customer)
    except ConflictError:
        return _list(_("A request of this kind is already being handled"), 409)
    except InvalidInputError:
        return _list(_("Your request could not be accepted: please check what you entered"), 422)
    return redirect(url_for("portal.data_request", request_id=view.id, filed=1), 303)


@bp.get("/requests/<int:request_id>")
@customer_required
def data_request(request_id: int) -> Any:
    view = dsr.get_request(current_engine(), request_id, actor=g.customer)
    return _page("request.html", r=view, filed=request.args.get("filed") == "1")


@bp.get("/requests/<int:request_id>/export.<fmt>")
@customer_required
def data_request_export(request_id: int, fmt: str) -> Any:
    if fmt not in MIME:
        abort(404)
    try:
        data = dsr.download_export(current_engine(), request_id, fmt=fmt, actor=g.customer)
    except ConflictError:
        abort(404)
    body = export.to_json(data) if fmt == "json" else export.to_xlsx(data)
    response = Response(body, mimetype=MIME[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="personal-data-{request_id}.{fmt}"'
    return response
