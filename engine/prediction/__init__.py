"""Explainable scores: churn risk and propensity per product family (features, labels, model, synthetic history)."""
