"""A classifier's quality before its labels exist: confidence-based performance estimation (CBPE).

The method is NannyML's CBPE (published in its documentation): if the model's scores are calibrated, a row scored
0.8 is a positive with probability 0.8, so the window's confusion counts, and hence its ROC AUC, have an expected
value computable from the scores alone. Calibration is learned on the champion's holdout (the evaluated model's
out-of-sample scores against the holdout's labels, isotonic), so the estimate needs no label of the window.

It holds under covariate shift (the inputs move, the relation between inputs and outcome does not) and fails under
concept drift: when the outcome's relation to the inputs changes, the scores are no longer calibrated and only the
labels show it. That is why the monitor uses the estimate only until labels arrive, and shows both afterwards.

NannyML itself was not taken as a dependency: its release pins plotly below 6 and brings LightGBM, FLAML and a
usage-telemetry client; ``benchmarks/estimate.py`` checks this implementation against it in a separate environment.
Regressors are not estimated (NannyML's DLE needs a second model of the error; the packet says "not estimated").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression

ESTIMATED_METRICS = ("roc_auc",)  # the primary metrics CBPE estimates here
MIN_CALIBRATION_ROWS = 200


@dataclass(frozen=True)
class Calibration:
    """Score -> probability of the positive class (a monotone step function learned on the holdout)."""

    scores: np.ndarray
    probabilities: np.ndarray

    def __call__(self, score: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(score, dtype=float), self.scores, self.probabilities)


def calibrate(holdout_scores: np.ndarray, holdout_labels: np.ndarray) -> Calibration | None:
    """Isotonic calibration of the champion's out-of-sample holdout scores; None with too few rows or one class."""
    scores, labels = np.asarray(holdout_scores, dtype=float), np.asarray(holdout_labels, dtype=float)
    if len(scores) < MIN_CALIBRATION_ROWS or len(np.unique(labels)) < 2:
        return None
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    return Calibration(np.asarray(iso.X_thresholds_, dtype=float), np.asarray(iso.y_thresholds_, dtype=float))


def expected_roc_auc(scores: np.ndarray, probabilities: np.ndarray) -> float | None:
    """The ROC AUC expected when row i is a positive with probability ``probabilities[i]``: the expected share of
    (positive, negative) pairs the scores order correctly (ties count half), as a ratio of expectations, which is
    the area under CBPE's expected ROC curve. None when no pair can be formed."""
    s, p = np.asarray(scores, dtype=float), np.clip(np.asarray(probabilities, dtype=float), 0.0, 1.0)
    values, group = np.unique(s, return_inverse=True)
    negatives_at = np.bincount(group, weights=1.0 - p, minlength=len(values))
    below = np.concatenate([[0.0], np.cumsum(negatives_at)[:-1]])  # expected negatives with a strictly lower score
    tied = negatives_at[group] - (1.0 - p)  # expected negatives with the same score, the row itself excluded
    correct = float(np.sum(p * (below[group] + 0.5 * tied)))
    pairs = float(p.sum() * (1.0 - p).sum() - np.sum(p * (1.0 - p)))
    return correct / pairs if pairs > 0 else None


def estimate(metric: str, scores: np.ndarray, calibration: Calibration | None) -> float | None:
    """The window's estimated ``metric`` from its scores alone; None where it is not estimated."""
    if calibration is None or metric not in ESTIMATED_METRICS or len(scores) == 0:
        return None
    return expected_roc_auc(scores, calibration(scores))
