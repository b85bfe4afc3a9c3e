"""Prediction tables: each trained model (``model_run``) and each customer's latest score with its reasons.

A model is stored as data, not as a pickle: the feature names, the standardization (mean, standard
deviation) and the logistic-regression coefficients in JSON, with the quality measured on held-out
data and where the training rows came from (``source``: ``bank`` history or ``synthetic`` history —
figures from synthetic history must be shown as such). Loading a model never runs code.

``customer_score`` keeps one row per customer and kind (``churn`` or ``propensity:<family>``), replaced
at each scoring run; the (kind, score) index serves "the highest scores of a kind" by a backward scan.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId

RUN_STATUSES = ("active", "superseded", "insufficient")


class ModelRun(Base):
    __tablename__ = "model_run"
    __table_args__ = (Index("ix_model_run_kind_trained", "kind", "trained_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # churn | propensity:<family>
    source: Mapped[str] = mapped_column(String(16))  # bank | synthetic
    as_of: Mapped[date] = mapped_column(Date)  # the bank-local day the training looked back from
    trained_at: Mapped[datetime]
    trained_by: Mapped[str] = mapped_column(String(128))
    rows: Mapped[int] = mapped_column(Integer)
    features: Mapped[list[str]] = mapped_column(JSON)
    coefficients: Mapped[dict[str, Any]] = mapped_column(JSON)  # {intercept, coef{}, mean{}, std{}}
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)  # held-out quality and its baseline, or why none
    status: Mapped[str] = mapped_column(String(16))  # RUN_STATUSES


class CustomerScore(Base):
    __tablename__ = "customer_score"
    __table_args__ = (Index("ix_customer_score_kind_score", "kind", "score"),)

    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    score: Mapped[float] = mapped_column(Float)  # probability 0..1
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # top 3: {feature, zh, en, value, contribution}
    model_run_id: Mapped[int] = mapped_column(ForeignKey("model_run.id", ondelete="CASCADE"), index=True)
    scored_at: Mapped[datetime]
