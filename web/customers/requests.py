"""Staff pages for customers' data-subject requests (PIPL Arts. 45 and 47; engine.dsr.service).

The compliance and supervisor roles (and admins) record requests made at a branch or by phone, see the open ones by
deadline (overdue highlighted), answer an access request (the customer can then download the copy in the portal),
decide a deletion (erased, or refused with the hold that keeps the data) or refuse one, and download a copy; others
get 403. Lists show the customer's name masked. The copy is built when downloaded, and the download is audited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask import redirect as flask_redirect
from flask_babel import gettext as _
from flask_login import login_required

from engine.dsr import export
from engine.dsr import service as dsr
from engine.errors import ConflictError, CustomerNotFoundError, InvalidInputError, PermissionDeniedError
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine

bp = Blueprint("data_requests", __name__, url_prefix="/data-requests")
MIME = {"json": "application/json", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _require_handler() -> None:
    if not current_actor().has_role(*dsr.HANDLER_ROLES):
        raise PermissionDeniedError(f"{current_actor().username} needs one of the roles "
                                    f"{', '.join(dsr.HANDLER_ROLES)}")


def _list_page(values: dict[str, str] | None = None, error: str | None = None, status: int = 200) -> Any:
    ctx, actor = current_engine(), current_actor()
    show = request.args.get("show", "open")
    items = dsr.list_requests(ctx, actor=actor, open_only=show != "all")
    return render_template("data_requests.html", actor=actor, items=items, show=show, values=values or {},
                           error=error, kinds=dsr.KINDS, channels=dsr.STAFF_CHANNELS,
                           workdays=ctx.settings.retention.dsr_answer_workdays), status


@bp.get("")
@login_required
def index() -> Any:
    _require_handler()
    return _list_page()


@bp.post("")
@login_required
def record() -> Any:
    check_csrf()
    _require_handler()
    form = request.form
    values = {k: form.get(k, "").strip() for k in ("customer_id", "kind", "channel", "note")}
    try:
        view = dsr.record_request(current_engine(), values["customer_id"], values["kind"], values["channel"],
                                  note=values["note"], actor=current_actor())
    except CustomerNotFoundError:
        return _list_page(values, _("No customer with this number"), 404)
    except InvalidInputError:
        return _list_page(values, _("Choose the kind and the channel; the note has at most 4000 characters"), 422)
    except ConflictError as exc:
        reason = (exc.details or {}).get("reason")
        message = (_("This customer's personal data is already erased") if reason == "erased"
                   else _("An open request of this kind is already being handled for this customer"))
        return _list_page(values, message, 409)
    return flask_redirect(url_for("data_requests.detail", request_id=view.id), 303)


def _detail_page(request_id: int, error: str | None = None, status: int = 200) -> Any:
    view = dsr.get_request(current_engine(), request_id, actor=current_actor())
    return render_template("data_request.html", actor=current_actor(), r=view, error=error,
                           refusals=dsr.MANUAL_REFUSALS), status


@bp.get("/<int:request_id>")
@login_required
def detail(request_id: int) -> Any:
    _require_handler()
    return _detail_page(request_id)


@bp.post("/<int:request_id>/<action>")
@login_required
def act(request_id: int, action: str) -> Any:
    check_csrf()
    _require_handler()
    ctx, actor, form = current_engine(), current_actor(), request.form
    answer = form.get("answer", "")
    try:
        if action == "answer":
            dsr.answer_access(ctx, request_id, answer=answer, actor=actor)
        elif action == "decide":
            dsr.decide_deletion(ctx, request_id, answer=answer, actor=actor)
        elif action == "refuse":
            dsr.refuse(ctx, request_id, form.get("reason", ""), answer=answer, actor=actor)
        else:
            abort(404)
    except InvalidInputError:
        return _detail_page(request_id, _("Choose a reason and tell the customer why (at most 4000 characters)"), 422)
    except ConflictError:
        return _detail_page(request_id, _("This request has already been handled"), 409)
    return flask_redirect(url_for("data_requests.detail", request_id=request_id), 303)


@bp.get("/<int:request_id>/export.<fmt>")
@login_required
def download(request_id: int, fmt: str) -> Any:
    _require_handler()
    if fmt not in MIME:
        abort(404)
    return send_export(dsr.download_export(current_engine(), request_id, fmt=fmt, actor=current_actor()), fmt,
                       request_id)


def send_export(data: dict[str, Any], fmt: str, request_id: int) -> Response:
    body = export.to_json(data) if fmt == "json" else export.to_xlsx(data)
    response = Response(body, mimetype=MIME[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="personal-data-{request_id}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
