"""The inbox's list page and what it does from the list: names, pages both ways, claim, claim next, bulk actions,
saved views, live updates (short polling) and the notification bell.

Paging stays keyset (fast at any depth): a page's link carries the cursors of the pages before it (``trail``), so
"previous" goes back to exactly the page one came from, even when new work arrived on the first pages meanwhile.
Live updates are short polls of ``GET /inbox/changes`` (one quick answer, no request left open: the few
synchronous workers stay free); the page fetches itself again only when the answer's ``version`` changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from engine.complaints import countdowns as complaint_clocks
from engine.context import EngineContext
from engine.errors import EngineError, InvalidInputError
from engine.services import notification_settings, notifications, saved_views, sla, supervision, tasks, worklist
from engine.views import Actor, TaskPage
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine
from web.i18n import current_language

# The inbox's one blueprint (web.inbox adds the task page to it): the menu marks "Inbox" on all of these pages.
bp = Blueprint("inbox", __name__, url_prefix="/inbox")
VIEWS = {"mine": _l("My tasks"), "queue": _l("Queue"), "archive": _l("Done"), "all": _l("All")}
FILTERS = ("process", "customer", "q", "overdue", "priority", "due", "follow_up", "sort", "size")
PRIORITIES = {"90": _l("Urgent (≥ 90)"), "70": _l("High (≥ 70)"), "50": _l("Normal or higher (≥ 50)")}
DUE = {"today": _l("Due by the end of today"), "week": _l("Due within 7 days")}
SORTS = {"created": _l("Oldest first"), "due": _l("Earliest due first"), "priority": _l("Highest priority first")}
SIZES = (10, 25, 50, 100)
DEFAULT_SIZE = 25
FIRST = "-"  # the first page's place in a trail (it has no cursor)
MAX_TRAIL = 60  # pages remembered for "previous"; deeper, "first page" still works
NOTIFICATION_KINDS = {"task_assigned": _l("Assigned to you"), "approval_waiting": _l("Waiting for your approval"),
                      "sla_warning": _l("Due soon"), "sla_breached": _l("SLA breached")}


# --- names ------------------------------------------------------------------------------------------------------

# "中文名 English name": the Chinese part (no Latin letters), a space, then the English part.
_PAIR = re.compile(r"^(?P<zh>[^A-Za-z]*[\u3400-\u9fff][^A-Za-z]*?)\s+(?P<en>[A-Za-z].*)$")


def one_language(name: Any) -> str:
    """A "中文 English" name in the page's language (a name in one language stays as written)."""
    text = str(name or "").strip()
    found = _PAIR.match(text)
    if found is None:
        return text
    return found.group("en").strip() if current_language() == "en" else found.group("zh").strip()


def process_names() -> dict[str, str]:
    """Process key → deployed name, read once per request."""
    names: dict[str, str] | None = getattr(g, "_inbox_process_names", None)
    if names is None:
        names = worklist.process_names(current_engine())
        g._inbox_process_names = names
    return names


def process_name(key: Any) -> str:
    """A process key as its deployed definition's name in the page's language."""
    return one_language(process_names().get(str(key), str(key)))


# --- the list ---------------------------------------------------------------------------------------------------


def _args(source: Any) -> dict[str, str]:
    return {name: str(source.get(name, "")).strip() for name in FILTERS}


def narrowing(ctx: EngineContext, filters: dict[str, str]) -> tasks.TaskFilters:
    """The engine's filters from the page's: a process by key or by (part of) its name in either language; due
    "today" and "week" end at midnight in the bank's zone."""
    now = ctx.clock.now()
    local_midnight = datetime.combine(now.astimezone(ctx.settings.zone).date() + timedelta(days=1), time(),
                                      tzinfo=ctx.settings.zone)
    due_before = {"today": local_midnight, "week": local_midnight + timedelta(days=6)}.get(filters["due"])
    return tasks.TaskFilters(
        process_keys=worklist.matching_keys(ctx, filters["process"]) if filters["process"] else None,
        customer=filters["customer"] or None, q=filters["q"] or None,
        overdue=True if filters["overdue"] else None,
        priority_min=int(filters["priority"]) if filters["priority"] in PRIORITIES else None,
        due_before=due_before - timedelta(microseconds=1) if due_before else None,
        follow_up_before=now if filters["follow_up"] else None,
    )


def _view_name(actor: Actor, requested: str) -> str:
    return requested if requested in VIEWS and (requested != "all" or actor.is_supervisor) else "mine"


def _size(text: str) -> int:
    """The page size: one of the choices, or any size from 1 to the largest choice in a link."""
    return int(text) if text.isdigit() and 1 <= int(text) <= SIZES[-1] else DEFAULT_SIZE


def _trail(text: str) -> list[str]:
    parts = [p for p in text.split(".") if p] if text else []
    if len(parts) > MAX_TRAIL or any(len(p) > 400 for p in parts):
        raise InvalidInputError(_("This page link is too long; start again from the first page."))
    return parts


def _query(view: str, filters: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The list's URL parameters without the empty ones."""
    return {k: v for k, v in {"view": view, **filters, **extra}.items() if v not in (None, "")}


def inbox_page() -> Any:
    """GET /inbox: one page of the chosen list, with counts, names, countdowns, saved views and page links."""
    ctx, actor = current_engine(), current_actor()
    saved = request.args.get("saved", "")
    if saved:
        stored = saved_views.get_view(ctx, _int(saved), actor=actor)
        return redirect(url_for("inbox.index", **stored.query))  # type: ignore[arg-type]
    view = _view_name(actor, request.args.get("view", "mine"))
    filters = _args(request.args)
    narrowed = narrowing(ctx, filters)
    sort = filters["sort"] if filters["sort"] in SORTS and view != "archive" else "created"
    size = _size(filters["size"])
    cursor = request.args.get("cursor") or None
    trail = _trail(request.args.get("trail", ""))
    page = tasks.list_tasks(ctx, actor=actor, view=view, filters=narrowed, sort=sort, cursor=cursor, limit=size)
    views = {k: v for k, v in VIEWS.items() if k != "all" or actor.is_supervisor}
    counts = {k: tasks.count_tasks(ctx, actor=actor, view=k, filters=narrowed) for k in views}
    here = _query(view, filters)
    links = {"next": url_for("inbox.index", **here, cursor=page.next_cursor,
                             trail=".".join([*trail, cursor or FIRST])) if page.next_cursor else None,
             "previous": None, "first": url_for("inbox.index", **here) if cursor else None}
    if trail:
        back = trail[-1]
        links["previous"] = url_for("inbox.index", **here, cursor=None if back == FIRST else back,
                                    trail=".".join(trail[:-1]) or None)
    countdowns = complaint_clocks.complaint_countdowns(ctx, sorted({t.instance_id for t in page.items}), actor=actor)
    return render_template(
        "inbox.html", actor=actor, page=page, view=view, views=views, filters=filters, counts=counts,
        priorities=PRIORITIES, due_choices=DUE, sorts=SORTS, sizes=SIZES, size=size, now=ctx.clock.now(),
        links=links, page_number=len(trail) + 1, countdowns=countdowns, process_choices=_process_choices(),
        saved=saved_views.list_views(ctx, actor=actor), here=url_for("inbox.index", **here, cursor=cursor,
                                                                     trail=".".join(trail) or None),
        live_url=url_for("inbox.changes", **here, cursor=cursor), version=_version(view, sort, size, page, counts),
        filter_query=here, groups=sorted(actor.groups),
    )


def _process_choices() -> list[str]:
    return sorted({one_language(name) for name in process_names().values()})


def _int(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise InvalidInputError(_("Not a number: %(value)s", value=text[:20]))
    return int(text)


def _version(view: str, sort: str, size: int, page: TaskPage, counts: dict[str, tuple[int, bool]]) -> str:
    """What the list's first page and tab counts look like now, as a short hash: when it changes, the page reloads
    its list. It also covers the tasks' states (a claim by someone else changes it)."""
    shown = [(t.id, t.status, t.assignee, t.priority, t.due_at.isoformat() if t.due_at else "",
              bool(t.sla_breached_at)) for t in page.items]
    raw = json.dumps([view, sort, size, shown, sorted(counts.items())], default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@bp.get("/changes")
@login_required
def changes() -> Any:
    """The live update's poll: the list's version (first page and counts), the counts, unread notifications.

    ``scope=desk``: the supervisor desk's version (workload and SLA board) instead."""
    ctx, actor = current_engine(), current_actor()
    unread = notifications.unread_count(ctx, actor=actor)
    if request.args.get("scope") == "desk":
        if not actor.is_supervisor:
            raise InvalidInputError(_("The desk is for supervisors"))
        board = [(r.process_key, r.open, r.warning, r.breached, r.paused) for r in sla.sla_board(ctx, actor=actor)]
        load = [(w.assignee, w.open, w.overdue) for w in supervision.workload(ctx, actor=actor)]
        version = hashlib.sha256(json.dumps([board, load], default=str).encode()).hexdigest()[:16]
        return _no_store(jsonify({"version": version, "unread": unread}))
    view = _view_name(actor, request.args.get("view", "mine"))
    filters = _args(request.args)
    narrowed = narrowing(ctx, filters)
    sort = filters["sort"] if filters["sort"] in SORTS and view != "archive" else "created"
    size = _size(filters["size"])
    page = tasks.list_tasks(ctx, actor=actor, view=view, filters=narrowed, sort=sort, limit=size,
                            cursor=request.args.get("cursor") or None)
    views = [k for k in VIEWS if k != "all" or actor.is_supervisor]
    counts = {k: tasks.count_tasks(ctx, actor=actor, view=k, filters=narrowed) for k in views}
    return _no_store(jsonify({
        "version": _version(view, sort, size, page, counts),
        "counts": {k: {"count": n, "capped": capped} for k, (n, capped) in counts.items()}, "unread": unread}))


def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


# --- acting from the list ---------------------------------------------------------------------------------------


def back_to_list(default: str | None = None) -> Any:
    """Redirect to the list page the form came from (only an inbox URL of this site)."""
    target = request.form.get("back", "")
    parts = urlsplit(target)
    if target.startswith("/inbox") and not parts.scheme and not parts.netloc and "\\" not in target:
        return redirect(target)
    return redirect(default or url_for("inbox.index"))


@bp.post("/claim-next")
@login_required
def claim_next() -> Any:
    """Claim the best next task of my queue (within the list's filters) and open it."""
    check_csrf()
    ctx, actor = current_engine(), current_actor()
    task = worklist.claim_next(ctx, actor=actor, filters=narrowing(ctx, _args(request.form)))
    if task is None:
        flash(_("Nothing to claim: your queue is empty"), "info")
        return back_to_list()
    flash(_("Claimed: %(title)s", title=one_language(task.title)), "success")
    return redirect(url_for("inbox.task", task_id=task.id))


@bp.post("/bulk")
@login_required
def bulk() -> Any:
    """Claim or assign the ticked tasks (supervisors). Assigning asks first: a page lists what will be given to whom
    and only its own button (``confirmed``) carries it out."""
    check_csrf()
    ctx, actor = current_engine(), current_actor()
    ids = [i for i in request.form.getlist("task_ids") if i][:200]
    action = request.form.get("action", "")
    assignee = request.form.get("assignee", "").strip()
    if not ids:
        flash(_("Tick the tasks first"), "error")
        return back_to_list()
    if action == "assign" and not assignee:
        flash(_("Name the person to assign the tasks to"), "error")
        return back_to_list()
    if action == "assign" and request.form.get("confirmed") != "1":
        shown = [tasks.get_task(ctx, i, actor=actor) for i in ids]
        return render_template("inbox_bulk_confirm.html", actor=actor, shown=shown, assignee=assignee,
                               back=request.form.get("back", ""))
    try:
        results = tasks.bulk_transition(ctx, ids, actor=actor, action=action, assignee=assignee or None)
    except EngineError as exc:
        flash(exc.message, "error")
        return back_to_list()
    done = sum(1 for r in results.values() if r == "ok")
    failed = len(results) - done
    flash(_("Tasks changed: %(num)d", num=done), "success" if done else "info")
    if failed:
        flash(_("Tasks not changed (taken meanwhile, or not allowed): %(num)d", num=failed), "error")
    return back_to_list()


# --- saved views ------------------------------------------------------------------------------------------------


@bp.post("/views")
@login_required
def save_view() -> Any:
    check_csrf()
    ctx, actor = current_engine(), current_actor()
    query = {k: v for k, v in _args(request.form).items() if v}
    query["view"] = _view_name(actor, request.form.get("view", "mine"))
    try:
        view = saved_views.save_view(ctx, actor=actor, name=request.form.get("name", ""), query=query,
                                     shared_group=request.form.get("shared_group") or None)
    except EngineError as exc:
        flash(exc.message, "error")
        return back_to_list()
    flash(_("View saved: %(name)s", name=view.name) if not view.shared_group
          else _("View shared with %(group)s: %(name)s", name=view.name, group=view.shared_group), "success")
    return redirect(url_for("inbox.index", saved=view.id))


@bp.post("/views/<int:view_id>/delete")
@login_required
def delete_view(view_id: int) -> Any:
    check_csrf()
    saved_views.delete_view(current_engine(), view_id, actor=current_actor())
    flash(_("View deleted"), "success")
    return back_to_list()


# --- notifications ----------------------------------------------------------------------------------------------


@bp.get("/notifications")
@login_required
def notifications_page() -> Any:
    ctx, actor = current_engine(), current_actor()
    page = notifications.list_notifications(ctx, actor=actor, limit=50)
    return render_template("notifications.html", actor=actor, page=page, kinds=NOTIFICATION_KINDS)


@bp.post("/notifications/read")
@login_required
def read_notifications() -> Any:
    """Mark all read, or open one (``id``): mark it read and go to its task."""
    check_csrf()
    ctx, actor = current_engine(), current_actor()
    one = request.form.get("id", "")
    if one:
        notifications.mark_read(ctx, actor=actor, ids=[_int(one)])
        task_id = request.form.get("task_id", "")
        if task_id:
            return redirect(url_for("inbox.task", task_id=task_id))
    else:
        notifications.mark_read(ctx, actor=actor)
        flash(_("All notifications marked read"), "success")
    return redirect(url_for("inbox.notifications_page"))


CHANNEL_NAMES = {"inapp": _l("Only the bell in CareFlow"), "email": _l("E-mail"), "wecom": _l("WeCom")}


@bp.route("/notifications/settings", methods=["GET", "POST"])
@login_required
def notification_settings_page() -> Any:
    """The person's own choice: which events also reach them by e-mail or WeCom (the bell shows them all)."""
    ctx, actor = current_engine(), current_actor()
    status = 200
    if request.method == "POST":
        check_csrf()
        channel, address = request.form.get("channel", "inapp"), (request.form.get("address") or "").strip()
        try:
            if channel == "email" and not notification_settings.EMAIL.match(address):
                raise InvalidInputError(_("Enter your work e-mail address, like name@bank.example"))
            if channel == "wecom" and not notification_settings.WECOM_USER.match(address):
                raise InvalidInputError(_("Enter your WeCom user id (letters, digits, _ . @ -)"))
            notification_settings.save_settings(ctx, actor=actor, channel=channel, address=address,
                                                events=request.form.getlist("events"))
            flash(_("Notification settings saved"), "success")
            return redirect(url_for("inbox.notification_settings_page"))
        except InvalidInputError as exc:
            flash(exc.message, "error")
            status = 422
    current = notification_settings.get_settings(ctx, actor=actor)
    channels = {c: CHANNEL_NAMES[c] for c in notification_settings.available_channels(ctx)}
    return render_template("notification_settings.html", actor=actor, current=current, channels=channels,
                           kinds=NOTIFICATION_KINDS), status


def _bell_unread() -> int:
    """The bell's number in the header (one indexed count; 0 for anyone not signed in as staff)."""
    if not current_user or not current_user.is_authenticated:
        return 0
    cached: int | None = getattr(g, "_bell_unread", None)
    if cached is None:
        try:
            cached = notifications.unread_count(current_engine(), actor=current_actor())
        except EngineError:
            cached = 0
        g._bell_unread = cached
    return cached


def init_app(app: Flask) -> None:
    # The labels module may register the same filters; whichever is first stays (same meaning).
    app.jinja_env.filters.setdefault("one_language", one_language)
    app.jinja_env.filters.setdefault("process_name", process_name)
    app.jinja_env.globals["bell_unread"] = _bell_unread
