"""Metrics per segment, and a binary classifier's decisions in money via the spec's value matrix.

The metrics themselves (which ones, which way is better) belong to the task: flywheel.core.tasks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flywheel.core.tasks import METRICS, Task
from flywheel.specs import BusinessSpec


def segment_metrics(
    frame: pd.DataFrame, segments: tuple[str, ...], y_true: np.ndarray, scores: dict[str, np.ndarray], task: Task
) -> pd.DataFrame:
    """One row per (segment column, value): rows, the label's mean, and each scorer's segment metrics
    (``<scorer>_<metric>``, NaN where undefined, e.g. an AUC on a segment with one class)."""
    rows = []
    y_true = task.label(y_true)
    for column in segments:
        values = frame[column].fillna("missing").astype(str).to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            row: dict[str, object] = {
                "segment": column,
                "value": value,
                "rows": int(mask.sum()),
                task.label_mean: task.label_summary(y_true[mask]),
            }
            for name, score in scores.items():
                for metric in task.segment_metrics:
                    value_ = METRICS[metric].value(y_true[mask], score[mask])
                    row[f"{name}_{metric}"] = float("nan") if value_ is None else value_
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
    threshold: float | None  # a binary classifier's; None for a multiclass one (it decides by its value matrix)
    value_per_1000: float

    @classmethod
    def of(cls, y_true: np.ndarray, score: np.ndarray, threshold: float, business: BusinessSpec) -> BusinessOutcome:
        value = business_value(y_true, np.asarray(score) >= threshold, business)
        return cls(threshold, 1000 * value / max(len(y_true), 1))

    @classmethod
    def of_decisions(cls, y_true: np.ndarray, decided: list[int | None], task: Task) -> BusinessOutcome:
        """A multiclass classifier's decisions (class indices) valued by its task's value matrix."""
        if task.value_matrix is None:
            raise ValueError("valuing multiclass decisions needs the spec's business.values")
        values = np.asarray(task.value_matrix, dtype=float)
        actual, chosen = np.asarray(y_true, dtype=int), np.asarray(decided, dtype=int)
        return cls(None, 1000 * float(values[actual, chosen].sum()) / max(len(actual), 1))
