"""CBPE: a classifier's ROC AUC estimated from its scores alone, against the realised figure on the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from flywheel.monitoring.estimate import calibrate, estimate, expected_roc_auc


def _population(n: int, seed: int, shift: float = 0.0, slope: float = 2.0):
    """Scores of a model whose outcome probability is a logistic function of one input; ``shift`` moves the input
    (covariate shift), ``slope`` changes how the outcome depends on it (concept drift)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    labels = rng.random(n) < 1 / (1 + np.exp(-slope * x))
    score = 1 / (1 + np.exp(-(1.2 * x - 0.3)))  # monotone in x, but not calibrated
    return score, labels.astype(float)


def test_expected_auc_of_calibrated_probabilities_is_the_pairwise_formula():
    p = np.array([0.9, 0.6, 0.6, 0.2])
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
    correct = sum(p[i] * (1 - p[j]) * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0) for i, j in pairs)
    total = sum(p[i] * (1 - p[j]) for i, j in pairs)
    assert expected_roc_auc(p, p) == pytest.approx(correct / total)
    assert expected_roc_auc(np.array([0.5]), np.array([1.0])) is None  # no pair to order


@pytest.mark.parametrize("shift", [0.0, 0.7, -0.7])
def test_the_estimate_follows_covariate_shift_within_001(shift):
    holdout_scores, holdout_labels = _population(5000, 0)
    calibration = calibrate(holdout_scores, holdout_labels)
    scores, labels = _population(20000, 1, shift=shift)
    estimated = estimate("roc_auc", scores, calibration)
    assert estimated is not None and abs(estimated - roc_auc_score(labels, scores)) < 0.01


def test_concept_drift_is_what_it_cannot_see_and_regressors_are_not_estimated():
    calibration = calibrate(*_population(5000, 0))
    scores, labels = _population(20000, 1, slope=0.7)  # the same inputs now say less about the outcome
    assert estimate("roc_auc", scores, calibration) - roc_auc_score(labels, scores) > 0.05
    assert estimate("mae", scores, calibration) is None
    assert calibrate(np.zeros(100), np.zeros(100)) is None  # too few rows, one class
