"""What differs between kinds of model, in one place: how a model scores, which metrics judge it, which way is better.

Everything downstream (gate, canary, monitor, serving, model card, demo) asks the spec's task instead of assuming a
classifier. A score is what the service answers and the prediction log keeps: the probability of the positive class
for a binary classifier, the predicted value for a regressor, the row of class probabilities for a multiclass
classifier (flywheel.core.multiclass). A classifier also makes a decision: 1/0 at the binary classifier's business
threshold, the decided class's index for a multiclass one (the most probable class, or the best expected value
under the spec's value matrix); a regressor's decision is None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from flywheel.core import multiclass
from flywheel.core.multiclass import score_array

BINARY_CLASSIFICATION, REGRESSION = "binary_classification", "regression"
MULTICLASS_CLASSIFICATION = "multiclass_classification"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # how people read it: "ROC AUC", "MAE"
    higher_is_better: bool
    sklearn_scoring: str  # the scorer RandomizedSearchCV maximises
    compute: Callable[[np.ndarray, np.ndarray], float | None]
    needs_both_classes: bool = False  # undefined on a sample with one class only

    def value(self, y_true: Any, score: Any) -> float | None:
        """The metric, or None where it is undefined (an AUC on one class, no rows)."""
        y_true, score = np.asarray(y_true, dtype=float), score_array(score)
        if len(y_true) == 0 or (self.needs_both_classes and len(np.unique(y_true)) < 2):
            return None
        result = self.compute(y_true, score)
        return float(result) if result is not None and np.isfinite(result) else None

    def advantage(self, value: float, reference: float) -> float:
        """How much better ``value`` is than ``reference``, in the metric's units (negative = worse), whichever
        way the metric points: +0.02 ROC AUC and -2.0 MAE are both an advantage of the first."""
        return value - reference if self.higher_is_better else reference - value

    def bound(self, reference: float, tolerance: float) -> float:
        """The worst value within ``tolerance`` of ``reference``: below it for a score, above it for an error."""
        return reference - tolerance if self.higher_is_better else reference + tolerance


def _roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y.astype(int), s))


def _pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y.astype(int), s))


def _mae(y: np.ndarray, s: np.ndarray) -> float:
    return float(np.mean(np.abs(y - s)))


def _rmse(y: np.ndarray, s: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - s) ** 2)))


def _mape(y: np.ndarray, s: np.ndarray) -> float | None:
    """Mean absolute percentage error over the rows where it is defined (a true value of 0 has no percentage)."""
    defined = y != 0
    return float(np.mean(np.abs((y[defined] - s[defined]) / y[defined]))) if defined.any() else None


def _log_loss(y: np.ndarray, s: np.ndarray) -> float:
    """Binary (a positive-class probability per row) or multiclass (a row of class probabilities)."""
    from sklearn.metrics import log_loss

    if s.ndim == 2:
        return multiclass.log_loss(y, s)
    return float(log_loss(y.astype(int), np.clip(s, 1e-7, 1 - 1e-7), labels=[0, 1]))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "ROC AUC", True, "roc_auc", _roc_auc, needs_both_classes=True),
        Metric("pr_auc", "PR AUC", True, "average_precision", _pr_auc, needs_both_classes=True),
        Metric("mae", "MAE", False, "neg_mean_absolute_error", _mae),
        Metric("rmse", "RMSE", False, "neg_root_mean_squared_error", _rmse),
        Metric("roc_auc_ovr", "macro ROC AUC (one-vs-rest)", True, "roc_auc_ovr", multiclass.roc_auc_ovr),
        Metric(
            "roc_auc_ovr_weighted",
            "weighted ROC AUC (one-vs-rest)",
            True,
            "roc_auc_ovr_weighted",
            lambda y, s: multiclass.roc_auc_ovr(y, s, weighted=True),
        ),
        Metric("log_loss", "log loss", False, "neg_log_loss", _log_loss),
        Metric("f1_macro", "macro F1", True, "f1_macro", multiclass.f1_macro),
    )
}


@dataclass(frozen=True)
class Task:
    name: str
    metrics: tuple[str, ...]  # what the model card, the run and `flywheel status` show, in this order
    segment_metrics: tuple[str, ...]  # what is computed per segment (the gate checks the primary one)
    label_mean: str  # what the label's summary is called: a positive rate, a mean value, the top class's share
    pyfunc_predict_fn: str  # what MLflow's pyfunc flavour calls: the same score the service answers
    classes: tuple[str, ...] = ()  # multiclass: the label's values, in the order of the score's columns
    value_matrix: tuple[tuple[float, ...], ...] | None = None  # multiclass: value[actual][decided], if given

    def score(self, model: Any, features: Any) -> np.ndarray:
        """The model's score for each row (see the module docstring): 1-D, or rows x classes for multiclass."""
        if self.name == REGRESSION:
            return np.asarray(model.predict(features), dtype=float)
        if self.name == MULTICLASS_CLASSIFICATION:
            return multiclass.aligned(model, np.asarray(model.predict_proba(features), dtype=float), len(self.classes))
        return np.asarray(model.predict_proba(features)[:, 1], dtype=float)

    def decisions(self, model: Any, scores: np.ndarray, features: Any) -> list[int | None]:
        """The action per row: 1/0 at the binary classifier's business threshold, the decided class's index for a
        multiclass one; None for a regressor."""
        if self.name == REGRESSION:
            return [None] * len(scores)
        if self.name == MULTICLASS_CLASSIFICATION:
            return [int(d) for d in self.decided_classes(scores)]
        threshold = getattr(model, "threshold", None)  # FixedThresholdClassifier: no second pass for predict
        decided = scores >= threshold if isinstance(threshold, float) else model.predict(features)
        return [int(d) for d in decided]

    def decided_classes(self, scores: Any) -> np.ndarray:
        """A multiclass classifier's decided class index per row (flywheel.core.multiclass.decide)."""
        if not len(scores):
            return np.zeros(0, dtype=int)
        values = None if self.value_matrix is None else np.asarray(self.value_matrix, dtype=float)
        return multiclass.decide(score_array(scores), values)

    def label(self, values: Any) -> np.ndarray:
        """Labels as numbers: 0/1, a value, or a multiclass label's class index (names or indices accepted)."""
        if self.name == MULTICLASS_CLASSIFICATION:
            index = multiclass.class_index(values, self.classes)
            if np.isnan(index).any():
                raise ValueError("a multiclass label is missing where one is required")
            return index.astype(int)
        return np.asarray(values).astype(int if self.name == BINARY_CLASSIFICATION else float)

    def evaluate(self, y_true: Any, score: Any) -> dict[str, float]:
        """Every metric of the task (NaN where undefined), the label's summary and the row count; a multiclass
        classifier also each class's recall (``recall__<class>``)."""
        y = self.label(y_true)
        score = score_array(score)
        figures = {name: _nan_if_none(METRICS_FOR_REPORT[name](y, score)) for name in self.metrics}
        if self.name == MULTICLASS_CLASSIFICATION and len(y):
            recalls = multiclass.recall_per_class(y, score)
            figures |= {f"recall__{name}": recall for name, recall in zip(self.classes, recalls, strict=True)}
        return {**figures, self.label_mean: self.label_summary(y), "rows": float(len(y))}

    def label_summary(self, y: np.ndarray) -> float:
        """The mean label (a positive rate, a mean value), or for multiclass the most frequent class's share."""
        if not len(y):
            return float("nan")
        if self.name == MULTICLASS_CLASSIFICATION:
            return float(np.bincount(np.asarray(y, dtype=int)).max() / len(y))
        return float(np.mean(y))


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _brier(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(y.astype(int), np.clip(s, 0, 1))) if len(y) else float("nan")


# Metric name -> f(y, score) -> value or None: the gating metrics and the report-only ones.
METRICS_FOR_REPORT: dict[str, Callable[[np.ndarray, np.ndarray], float | None]] = {
    **{name: metric.value for name, metric in METRICS.items()},
    "mape": _mape,
    "brier": _brier,
}

TASKS: dict[str, Task] = {
    BINARY_CLASSIFICATION: Task(
        BINARY_CLASSIFICATION,
        metrics=("roc_auc", "pr_auc", "log_loss", "brier"),
        segment_metrics=("roc_auc", "pr_auc"),
        label_mean="positive_rate",
        pyfunc_predict_fn="predict_proba",
    ),
    REGRESSION: Task(
        REGRESSION,
        metrics=("mae", "rmse", "mape"),
        segment_metrics=("mae", "rmse"),
        label_mean="mean_label",
        pyfunc_predict_fn="predict",
    ),
    MULTICLASS_CLASSIFICATION: Task(
        MULTICLASS_CLASSIFICATION,
        metrics=("roc_auc_ovr", "roc_auc_ovr_weighted", "log_loss", "f1_macro"),
        segment_metrics=("roc_auc_ovr", "log_loss"),
        label_mean="top_class_share",
        pyfunc_predict_fn="predict_proba",
    ),
}

# Which gating metrics a task may name in ``gates.primary_metric``.
PRIMARY_METRICS = {
    BINARY_CLASSIFICATION: ("roc_auc", "pr_auc"),
    REGRESSION: ("mae", "rmse"),
    MULTICLASS_CLASSIFICATION: ("roc_auc_ovr", "roc_auc_ovr_weighted", "log_loss", "f1_macro"),
}


def task_of(spec: Any) -> Task:
    """The spec's task; a multiclass one carries the spec's classes and value matrix."""
    task = TASKS[spec.task]
    if task.name != MULTICLASS_CLASSIFICATION:
        return task
    business = spec.business
    matrix = None
    if business is not None:
        matrix = tuple(tuple(float(business.values[a][d]) for d in spec.classes) for a in spec.classes)
    return replace(task, classes=tuple(spec.classes), value_matrix=matrix)


def primary_metric(spec: Any) -> Metric:
    return METRICS[spec.gates.primary_metric]
