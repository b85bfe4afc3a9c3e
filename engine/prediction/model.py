"""Train, evaluate and explain one score: logistic regression on standardized features (scikit-learn).

Why this model: its explanation is exact, not an approximation. The score is
``sigmoid(intercept + Σ coef_j · (x_j − mean_j) / std_j)``, so each term ``coef_j · (x_j − mean_j) / std_j`` is
precisely how much feature *j* moves this customer's log-odds away from the average customer's; the
reasons shown beside a score are the three largest terms, and intercept plus all terms give back the
logit (the tests check it). A gradient-boosted model might rank a little better, but its per-customer
attributions (e.g. SHAP) would be an extra approximation layer, and a bank's staff and auditors need to
see why a customer is on a call list. Regularization is scikit-learn's default L2 (C = 1); no class
weights, so the probabilities stay calibrated (measured with the Brier score).

The model is stored as JSON (features, mean, std, coefficients, intercept) and scored in plain Python:
loading a model never unpickles anything. The stored coefficients are those of the model whose held-out
quality is reported (trained on the earlier snapshots only), not a refit on all data, so the figures
shown describe exactly the model in use.

Evaluation is time-based: the latest ``TEST_MONTHS`` snapshots are the test set and training uses only
snapshots at least 6 months older than the first test snapshot, so no training label looks into the
test period. Measures: ROC AUC, precision among the top 10 % of scores, Brier score; against the base
rate (Brier) and a simple rule (AUC, precision): "a complaint in the last 180 days" for churn, "bought
something in the last 6 months" for propensity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta

from engine.prediction.features import LABELS, Row
from engine.prediction.labels import HORIZON, Dataset

TEST_MONTHS = 4
MIN_POSITIVES = 10  # fewer positive rows than this in training (or test): too thin to learn (or to measure)
TOP_SHARE = 0.10
TOP_REASONS = 3


@dataclass(frozen=True)
class Model:
    kind: str
    features: tuple[str, ...]
    intercept: float
    coef: Mapping[str, float]
    mean: Mapping[str, float]
    std: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"intercept": self.intercept, "coef": dict(self.coef), "mean": dict(self.mean), "std": dict(self.std)}

    @classmethod
    def from_json(cls, kind: str, features: Sequence[str], data: Mapping[str, Any]) -> Model:
        return cls(kind, tuple(features), float(data["intercept"]), dict(data["coef"]), dict(data["mean"]),
                   dict(data["std"]))

    def contributions(self, row: Row) -> dict[str, float]:
        """Each feature's term of the logit: coef × (x − mean) / std."""
        return {f: self.coef[f] * (row[f] - self.mean[f]) / self.std[f] for f in self.features}

    def logit(self, row: Row) -> float:
        return self.intercept + sum(self.contributions(row).values())

    def score(self, row: Row) -> float:
        return _sigmoid(self.logit(row))

    def explain(self, row: Row, top: int = TOP_REASONS) -> list[dict[str, Any]]:
        """The ``top`` largest terms (by size), each with its bilingual label, value and direction."""
        terms = sorted(self.contributions(row).items(), key=lambda item: (-abs(item[1]), item[0]))
        return [{"feature": f, "zh": LABELS[f].zh, "en": LABELS[f].en, "value": round(row[f], 3),
                 "contribution": round(value, 4), "direction": "up" if value > 0 else "down"}
                for f, value in terms[:top] if abs(value) > 1e-9]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def fit(kind: str, rows: Sequence[Row], labels: Sequence[int], features: Sequence[str]) -> Model:
    """Standardize, then fit an L2 logistic regression (a constant feature gets std 1 and weight 0)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([[row[f] for f in features] for row in rows], dtype=float)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-9] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / std, np.array(labels))
    return Model(kind, tuple(features), float(model.intercept_[0]),
                 {f: float(c) for f, c in zip(features, model.coef_[0], strict=True)},
                 {f: float(m) for f, m in zip(features, mean, strict=True)},
                 {f: float(s) for f, s in zip(features, std, strict=True)})


def precision_at(scores: Sequence[float], labels: Sequence[int], share: float = TOP_SHARE) -> float:
    """Share of positives among the top ``share`` of rows by score (ties keep their row order)."""
    k = max(1, int(round(len(scores) * share)))
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
    return sum(labels[i] for i in order) / k


def quality(scores: Sequence[float], labels: Sequence[int]) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    return {"auc": round(float(roc_auc_score(labels, scores)), 4),
            "precision_top10": round(precision_at(scores, labels), 4),
            "brier": round(float(brier_score_loss(labels, scores)), 4)}


def baseline_rule(kind: str, row: Row) -> float:
    if kind == "churn":
        return 1.0 if row["complaints_180d"] > 0 else 0.0
    return 1.0 if row["months_since_purchase"] <= 6 else 0.0


BASELINE_NAMES = {"churn": ("近180天有投诉", "a complaint in the last 180 days"),
                  "propensity": ("近6个月有购买", "bought something in the last 6 months")}


@dataclass(frozen=True)
class Trained:
    model: Model | None
    rows: int
    metrics: dict[str, Any]
    status: str  # active | insufficient


def split(dataset: Dataset) -> tuple[list[int], list[int]]:
    """Row indexes of the time-based train and test sets (see the module docstring)."""
    days = sorted({day for day, *_ in dataset.rows})
    if len(days) < 2:
        return [], []
    first_test = days[-1] - relativedelta(months=TEST_MONTHS - 1)
    last_train = first_test - HORIZON
    train = [i for i, (day, *_) in enumerate(dataset.rows) if day <= last_train]
    test = [i for i, (day, *_) in enumerate(dataset.rows) if day >= first_test]
    return train, test


def train(dataset: Dataset, features: Sequence[str]) -> Trained:
    """Fit on the earlier snapshots, measure on the later ones; say so when history is too thin for either."""
    train_idx, test_idx = split(dataset)
    ys = [label for *_, label in dataset.rows]
    rows = [row for _, _, row, _ in dataset.rows]
    days = sorted({day for day, *_ in dataset.rows})
    info: dict[str, Any] = {"snapshots": [d.isoformat() for d in (days[0], days[-1])] if days else [],
                            "positives": sum(ys)}
    train_pos = sum(ys[i] for i in train_idx)
    test_pos = sum(ys[i] for i in test_idx)
    if train_pos < MIN_POSITIVES or len(train_idx) - train_pos < MIN_POSITIVES:
        why = (f"too little history: {len(train_idx)} training rows with {train_pos} positives before an honest "
               f"time split (at least {MIN_POSITIVES} of each class needed)")
        return Trained(None, len(dataset.rows), info | {"held_out": None, "note": why}, "insufficient")
    model = fit(dataset.kind, [rows[i] for i in train_idx], [ys[i] for i in train_idx], features)
    info |= {"train_rows": len(train_idx), "train_positives": train_pos, "test_rows": len(test_idx),
             "test_positives": test_pos, "train_until": _day(dataset, train_idx[-1]),
             "test_from": _day(dataset, test_idx[0]) if test_idx else None}
    if test_pos < MIN_POSITIVES or len(test_idx) - test_pos < MIN_POSITIVES:
        note = f"held-out data too thin to measure ({len(test_idx)} rows, {test_pos} positives)"
        return Trained(model, len(train_idx), info | {"held_out": None, "note": note}, "active")
    test_rows, test_y = [rows[i] for i in test_idx], [ys[i] for i in test_idx]
    base_rate = train_pos / len(train_idx)
    family = "churn" if dataset.kind == "churn" else "propensity"
    rule = quality([baseline_rule(dataset.kind, r) for r in test_rows], test_y)
    rule["brier"] = quality([base_rate] * len(test_y), test_y)["brier"]
    info |= {"held_out": quality([model.score(r) for r in test_rows], test_y),
             "baseline": rule | {"rule_zh": BASELINE_NAMES[family][0], "rule_en": BASELINE_NAMES[family][1],
                                 "base_rate": round(base_rate, 4)},
             "test_base_rate": round(test_pos / len(test_idx), 4)}
    return Trained(model, len(train_idx), info, "active")


def _day(dataset: Dataset, index: int) -> str:
    day: date = dataset.rows[index][0]
    return day.isoformat()
