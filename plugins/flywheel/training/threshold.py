"""A binary classifier's decision threshold: the one that maximises the value of its decisions across the folds.

The algorithm of scikit-learn's ``TunedThresholdClassifierCV`` (a unit test holds the two equal), run on the
validation scores the search already has (``training.search``) instead of fitting the chosen candidate on the
folds again: per fold, the value at ``n_thresholds`` evenly spaced thresholds between that fold's lowest and
highest score; the folds' curves interpolated onto common thresholds spanning all folds, averaged; the first best.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from flywheel.training.search import FoldScores


def tuned_threshold(
    folds: Sequence[FoldScores], value: Callable[[np.ndarray, np.ndarray], float], n_thresholds: int = 100
) -> float:
    """``value(y_true, flagged)``: the worth of flagging (1) the rows whose score is >= the threshold."""
    if not folds:
        raise ValueError("tuning a threshold needs the validation scores of at least one fold")
    curves = []
    for fold in folds:
        thresholds = np.linspace(np.min(fold.score), np.max(fold.score), n_thresholds)
        if np.isclose(thresholds[0], thresholds[-1]):
            raise ValueError("the model makes constant predictions on a fold: no threshold can be tuned")
        values = np.array([value(fold.y_true, (fold.score >= t).astype(int)) for t in thresholds])
        curves.append((thresholds, values))
    common = np.linspace(min(t.min() for t, _ in curves), max(t.max() for t, _ in curves), n_thresholds)
    mean = np.mean([np.interp(common, thresholds, values) for thresholds, values in curves], axis=0)
    return float(common[int(mean.argmax())])
