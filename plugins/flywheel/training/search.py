"""The hyper-parameter search: random candidates from the spec's space, each fitted and scored on the time-ordered
folds, keeping every fold's validation scores.

scikit-learn's ``RandomizedSearchCV`` (same candidates: ``ParameterSampler`` with the spec's seed; same scorer;
same choice: the best mean over folds, the first on a tie) throws the fitted fold models away, and a binary
classifier's threshold tuner (``TunedThresholdClassifierCV``) then fitted the chosen candidate on the same folds
again: three of a training's 23 fits, about 7 s of a 66 s hotel training. Keeping the validation scores lets the
threshold be tuned on them (``training.threshold``) with the same result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from flywheel.core.tasks import primary_metric, task_of
from flywheel.specs import ModelSpec
from flywheel.training.dataset import TimeSplit
from flywheel.training.estimators import build_pipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldScores:
    """One fold's validation labels and the model's scores for them (a classifier's positive-class probability)."""

    y_true: np.ndarray
    score: np.ndarray


@dataclass(frozen=True)
class SearchResult:
    params: dict[str, Any]  # the chosen candidate, as the estimator's own parameter names
    cv_score: float  # its primary metric, mean over the folds, in the metric's own units (NaN: nothing searched)
    folds: tuple[FoldScores, ...]  # its validation scores per fold (empty when nothing was fitted)


def candidates(spec: ModelSpec) -> list[dict[str, Any]]:
    """The candidates ``RandomizedSearchCV`` would draw: ``search_iterations`` of the space (all of a smaller
    grid), with the spec's seed; one candidate (the fixed params) when the space is empty."""
    from sklearn.model_selection import ParameterSampler

    space = spec.estimator.search_space
    if not space:
        return [{}]
    total = min(spec.estimator.search_iterations, int(np.prod([len(v) for v in space.values()])))
    return list(ParameterSampler(dict(space), total, random_state=spec.estimator.random_state))


def search(spec: ModelSpec, split: TimeSplit, X: pd.DataFrame, y: Any, n_jobs: int, keep_folds: bool) -> SearchResult:
    """Fit every candidate on every fold (``n_jobs`` fits at a time) and choose the best. ``keep_folds``: fit the
    folds even when there is nothing to choose (a classifier's threshold is tuned on them)."""
    from joblib import Parallel, delayed

    if not spec.estimator.search_space and not keep_folds:
        return SearchResult({}, float("nan"), ())
    drawn = candidates(spec)
    metric = primary_metric(spec)
    log.info(
        "%s: %d candidate(s) x %d time-ordered folds (%s)",
        spec.name,
        len(drawn),
        len(split.folds),
        "; ".join(f"fit {f[0]}..{f[-1]} -> validate {v[0]}..{v[-1]}" for f, v in split.fold_months),
    )
    jobs = [(c, f) for c in range(len(drawn)) for f in range(len(split.folds))]
    scores = np.full((len(drawn), len(split.folds)), np.nan)
    fold_scores: dict[tuple[int, int], FoldScores] = {}
    started = time.monotonic()
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_fit_and_score)(spec, drawn[c], X, y, split.folds[f], c, f) for c, f in jobs
    )
    for done, (c, f, value, fold) in enumerate(results, start=1):
        scores[c, f], fold_scores[c, f] = value, fold
        log.info(
            "%s: fit %d/%d, candidate %d %s, fold %d: %s %.4f (%.0f s)",
            spec.name,
            done,
            len(jobs),
            c + 1,
            drawn[c],
            f + 1,
            metric.label,
            value if metric.higher_is_better else -value,
            time.monotonic() - started,
        )
    best = int(np.nanargmax(scores.mean(axis=1)))  # scorers are "higher is better"; the first best on a tie
    # scikit-learn maximises: an error metric is scored as its negative ("neg_mean_absolute_error").
    cv_score = float(scores[best].mean()) if metric.higher_is_better else -float(scores[best].mean())
    params = dict(drawn[best])
    log.info("%s: best %s = %.4f with %s", spec.name, metric.label, cv_score, params)
    chosen = tuple(fold_scores[best, f] for f in range(len(split.folds)))
    return SearchResult(params, cv_score if spec.estimator.search_space else float("nan"), chosen)


def _fit_and_score(
    spec: ModelSpec, params: dict[str, Any], X: pd.DataFrame, y: Any, fold: tuple[Any, Any], c: int, f: int
) -> tuple[int, int, float, FoldScores]:
    from sklearn.metrics import get_scorer

    fit_idx, val_idx = fold
    y = pd.Series(np.asarray(y))
    model = build_pipeline(spec, **params).fit(X.iloc[fit_idx], y.iloc[fit_idx])
    X_val, y_val = X.iloc[val_idx], y.iloc[val_idx].to_numpy()
    value = float(get_scorer(primary_metric(spec).sklearn_scoring)(model, X_val, y_val))
    return c, f, value, FoldScores(y_val, np.asarray(task_of(spec).score(model, X_val)))
