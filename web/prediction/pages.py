"""Scores page (/scores): the highest churn risks and propensities with their reasons, and the model runs' quality.

Staff see the scores of the customers they manage, supervisors everyone's (the engine decides). Runs
trained on synthetic history carry the caveat on every page that shows them: their figures describe
generated data, not the bank's customers. The customer 360 page includes ``scores/_customer.html``,
which calls ``customer_scores(customer_id)`` provided here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from engine.errors import EngineError
from engine.prediction import service as prediction
from engine.prediction.features import FAMILIES
from web.auth import current_actor
from web.engine_access import current_engine
from web.i18n import current_language

bp = Blueprint("scores", __name__, url_prefix="/scores")


def kind_label(kind: str) -> str:
    family = kind.partition(":")[2]
    if not family:
        return _("Churn risk")
    zh, en = FAMILIES.get(family, (family, family))
    return _("Propensity to buy: %(family)s", family=zh if current_language() == "zh" else en)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    def customer_scores(customer_id: str) -> list[prediction.ScoreView]:
        try:
            return prediction.customer_scores(current_engine(), customer_id, actor=current_actor())
        except EngineError:
            return []

    return {"customer_scores": customer_scores, "kind_label": kind_label}


@bp.get("")
@login_required
def index() -> Any:
    actor = current_actor()
    if not actor.has_role("staff", "supervisor"):
        abort(403)
    kind = request.args.get("kind", "churn")
    if kind not in prediction.KINDS:
        kind = "churn"
    ctx = current_engine()
    scores = prediction.list_top_scores(ctx, kind=kind, actor=actor, limit=50)
    runs = prediction.list_model_runs(ctx, actor=actor, limit=24)
    return render_template("scores/index.html", actor=actor, kind=kind, kinds=prediction.KINDS, scores=scores,
                           runs=runs, synthetic=any(r.synthetic for r in runs) or any(s.synthetic for s in scores))
