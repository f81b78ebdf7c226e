"""The hyper-parameter search: random candidates from the spec's space, fitted and scored on the time-ordered
folds in rungs of successive halving (``training.halving``), keeping every fold's validation scores.

scikit-learn's ``RandomizedSearchCV`` (same candidates: ``ParameterSampler`` with the spec's seed; same scorer;
same choice: the best mean over folds, the first on a tie) throws the fitted fold models away, and a binary
classifier's threshold tuner (``TunedThresholdClassifierCV``) then fitted the chosen candidate on the same folds
again: three of a training's 23 fits, about 7 s of a 66 s hotel training. Keeping the validation scores lets the
threshold be tuned on them (``training.threshold``) with the same result.

Every candidate varies the estimator only, so each fold's preprocessing (imputers, category encoder) is fitted
once and the fits get the fold's numeric matrices: the same models as fitting the whole pipeline per candidate,
without encoding text columns 18 times and pickling them to every worker. Each fit predicts its validation months
once: the primary metric is computed from those scores (``Metric.value``, what the gate and the card use).
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
from flywheel.training.halving import Rung, SearchPlan, search_plan

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
    """Fit the candidates on every fold (``n_jobs`` fits at a time), rung by rung (``training.halving``), and
    choose the best of the last rung. ``keep_folds``: fit the folds even when there is nothing to choose (a
    classifier's threshold is tuned on them)."""
    if not spec.estimator.search_space and not keep_folds:
        return SearchResult({}, float("nan"), ())
    drawn = candidates(spec)
    plan = search_plan(spec.estimator, len(drawn))
    metric = primary_metric(spec)
    log.info(
        "%s: %d candidate(s) x %d time-ordered folds (%s); %s",
        spec.name,
        len(drawn),
        len(split.folds),
        "; ".join(f"fit {f[0]}..{f[-1]} -> validate {v[0]}..{v[-1]}" for f, v in split.fold_months),
        plan.why,
    )
    alive = list(range(len(drawn)))
    fitted: dict[tuple[int, int], Any] = {}  # the fold models a later rung continues
    started = time.monotonic()
    folds = _preprocessed_folds(spec, split, X, y)
    for number, rung in enumerate(plan.rungs, start=1):
        alive = alive[: rung.candidates]
        more = number < len(plan.rungs)
        scores, fold_scores, fitted = _rung(spec, folds, n_jobs, plan, rung, more, drawn, alive, fitted, started)
        means = {c: float(np.mean(scores[c])) for c in alive}
        alive = sorted(alive, key=lambda c: (-means[c], c))  # the first drawn on a tie
        if more:
            log.info(
                "%s: rung %d: %s go on",
                spec.name,
                number,
                ", ".join(
                    f"candidate {c + 1} ({metric.label} {_shown(metric, means[c]):.4f})"
                    for c in alive[: plan.rungs[number].candidates]
                ),
            )
    best = alive[0]
    # scikit-learn maximises: an error metric is scored as its negative ("neg_mean_absolute_error").
    cv_score = _shown(metric, means[best])
    params = dict(drawn[best])
    log.info(
        "%s: best %s = %.4f with %s (%.0f s)", spec.name, metric.label, cv_score, params, time.monotonic() - started
    )
    chosen = tuple(fold_scores[best, f] for f in range(len(split.folds)))
    return SearchResult(params, cv_score if spec.estimator.search_space else float("nan"), chosen)


def _shown(metric: Any, score: float) -> float:
    """A scorer's value in the metric's own units (scorers are "higher is better": an error comes negated)."""
    return score if metric.higher_is_better else -score


@dataclass(frozen=True)
class _Fold:
    """A fold's fit and validation months through the preprocessing fitted on its fit months."""

    X_fit: np.ndarray
    y_fit: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


def _preprocessed_folds(spec: ModelSpec, split: TimeSplit, X: pd.DataFrame, y: Any) -> list[_Fold]:
    y = np.asarray(y)
    folds = []
    for fit_idx, val_idx in split.folds:
        preprocess = build_pipeline(spec)[:-1]
        X_fit = preprocess.fit_transform(X.iloc[fit_idx], y[fit_idx])
        folds.append(
            _Fold(np.asarray(X_fit), y[fit_idx], np.asarray(preprocess.transform(X.iloc[val_idx])), y[val_idx])
        )
    return folds


def _rung(
    spec: ModelSpec,
    folds: list[_Fold],
    n_jobs: int,
    plan: SearchPlan,
    rung: Rung,
    more_rungs: bool,
    drawn: list[dict[str, Any]],
    alive: list[int],
    fitted: dict[tuple[int, int], Any],
    started: float,
) -> tuple[dict[int, list[float]], dict[tuple[int, int], FoldScores], dict[tuple[int, int], Any]]:
    """Fit (or continue) each of ``alive`` on every fold to the rung's iterations; their scores per fold, their
    validation scores, and the fitted fold models when a later rung continues them."""
    from joblib import Parallel, delayed

    metric = primary_metric(spec)
    iterations = {plan.iteration_param: rung.iterations} if plan.iteration_param else {}
    jobs = [(c, f) for c in alive for f in range(len(folds))]
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_fit_and_score)(spec, drawn[c], folds[f], c, f, iterations, fitted.get((c, f)), more_rungs)
        for c, f in jobs
    )
    scores: dict[int, list[float]] = {c: [np.nan] * len(folds) for c in alive}
    fold_scores: dict[tuple[int, int], FoldScores] = {}
    kept: dict[tuple[int, int], Any] = {}
    for done, (c, f, value, fold, model) in enumerate(results, start=1):
        scores[c][f], fold_scores[c, f], kept[c, f] = value, fold, model
        log.info(
            "%s: fit %d/%d, candidate %d %s%s, fold %d: %s %.4f (%.0f s)",
            spec.name,
            done,
            len(jobs),
            c + 1,
            drawn[c],
            "".join(f", {k}={v}" for k, v in iterations.items()) if len(plan.rungs) > 1 else "",
            f + 1,
            metric.label,
            _shown(metric, value),
            time.monotonic() - started,
        )
    return scores, fold_scores, kept


def _fit_and_score(
    spec: ModelSpec,
    params: dict[str, Any],
    fold: _Fold,
    c: int,
    f: int,
    iterations: dict[str, int],
    previous: Any,
    keep_model: bool,
) -> tuple[int, int, float, FoldScores, Any]:
    """Fit the candidate's estimator on the fold's months (or continue ``previous``, its fit at the rung before,
    to ``iterations``: warm_start on the same data adds them, as a fit with all of them from the start would) and
    score it on the fold's validation months."""
    model = previous if previous is not None else build_pipeline(spec, **params)[-1]
    if iterations:
        model.set_params(**iterations, warm_start=True)
    model.fit(fold.X_fit, fold.y_fit)
    metric, score = primary_metric(spec), np.asarray(task_of(spec).score(model, fold.X_val))
    value = metric.value(fold.y_val, score)
    if value is None:
        raise ValueError(
            f"{spec.name}: {metric.label} is undefined on search fold {f + 1}'s validation months "
            f"({len(fold.y_val)} rows, one class?): widen the folds (split.cv_folds) or the history"
        )
    # scikit-learn's convention, which the choice follows: higher is better (an error counts negated)
    value = value if metric.higher_is_better else -value
    return c, f, value, FoldScores(fold.y_val, score), model if keep_model else None
