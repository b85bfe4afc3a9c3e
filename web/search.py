"""The global search page (``/search?q=``), reached from the search box in every staff page's header.

The view parses the query, calls ``engine.services.search.search`` once and renders the four kinds of result; what
matches, who sees what and the audit are the engine's. The API twin is ``GET /api/v1/search`` (web/api/search.py).
A page opened without a query shows the box only and searches nothing (and audits nothing).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_login import login_required

from engine.errors import InvalidInputError
from engine.services import search as search_service
from web.auth import current_actor
from web.engine_access import current_engine

bp = Blueprint("search", __name__)


@bp.get("/search")
@login_required
def page() -> Any:
    q = request.args.get("q", "").strip()
    if not q:
        return render_template("search.html", actor=current_actor(), q="", results=None, problem=None)
    try:
        results = search_service.search(current_engine(), q, actor=current_actor())
    except InvalidInputError as exc:
        return render_template("search.html", actor=current_actor(), q=q, results=None, problem=exc.message), 400
    return render_template("search.html", actor=current_actor(), q=q, results=results, problem=None,
                           total=search_service.results_count(results))
