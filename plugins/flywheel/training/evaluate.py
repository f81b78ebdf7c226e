"""Metrics of a binary classifier: overall, per segment, and in money via the spec's value matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from flywheel.specs import BusinessSpec


def classification_metrics(y_true: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, log loss and Brier score (AUCs are NaN when only one class is present)."""
    y_true = np.asarray(y_true).astype(int)
    score = np.clip(np.asarray(score, dtype=float), 1e-7, 1 - 1e-7)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "roc_auc": float(roc_auc_score(y_true, score)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(y_true, score)) if both_classes else float("nan"),
        "log_loss": float(log_loss(y_true, score, labels=[0, 1])),
        "brier": float(brier_score_loss(y_true, score)),
        "positive_rate": float(y_true.mean()),
        "rows": float(len(y_true)),
    }


def segment_metrics(
    frame: pd.DataFrame, segments: tuple[str, ...], y_true: np.ndarray, scores: dict[str, np.ndarray]
) -> pd.DataFrame:
    """One row per (segment column, value) with rows, positive rate and each scorer's ROC AUC / PR AUC."""
    rows = []
    y_true = np.asarray(y_true).astype(int)
    for column in segments:
        values = frame[column].fillna("missing").astype(str).to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            row: dict[str, object] = {
                "segment": column,
                "value": value,
                "rows": int(mask.sum()),
                "positive_rate": float(y_true[mask].mean()),
            }
            for name, score in scores.items():
                m = classification_metrics(y_true[mask], score[mask])
                row[f"{name}_roc_auc"] = m["roc_auc"]
                row[f"{name}_pr_auc"] = m["pr_auc"]
            rows.append(row)
    return pd.DataFrame(rows)


def business_value(y_true: np.ndarray, flagged: np.ndarray, business: BusinessSpec) -> float:
    """Total value of the decisions ``flagged`` (1 = act on a predicted positive) under the value matrix."""
    y_true = np.asarray(y_true).astype(int)
    flagged = np.asarray(flagged).astype(int)
    tp = np.sum((flagged == 1) & (y_true == 1))
    fp = np.sum((flagged == 1) & (y_true == 0))
    tn = np.sum((flagged == 0) & (y_true == 0))
    fn = np.sum((flagged == 0) & (y_true == 1))
    return float(
        tp * business.value_true_positive
        - fp * business.cost_false_positive
        + tn * business.value_true_negative
        - fn * business.cost_false_negative
    )


@dataclass(frozen=True)
class BusinessOutcome:
    threshold: float
    value_per_1000: float

    @classmethod
    def of(cls, y_true: np.ndarray, score: np.ndarray, threshold: float, business: BusinessSpec) -> BusinessOutcome:
        value = business_value(y_true, np.asarray(score) >= threshold, business)
        return cls(threshold, 1000 * value / max(len(y_true), 1))
