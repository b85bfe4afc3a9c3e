"""``GET /api/v1/search?q=``: the global search's typed results (cases, customers, tasks, instances) as JSON."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from engine.services import search as search_service
from web.api import bp, to_json
from web.auth import token_required
from web.engine_access import current_engine


@bp.get("/search")
@token_required
def search() -> Any:
    results = search_service.search(current_engine(), request.args.get("q", ""), actor=g.actor,
                                    limit=request.args.get("limit", 10, type=int))
    return jsonify(to_json(results))
