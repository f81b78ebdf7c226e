"""Fit a model from its spec: baseline, random search on time-ordered folds, business threshold, holdout metrics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import make_scorer
from sklearn.model_selection import FixedThresholdClassifier, RandomizedSearchCV, TunedThresholdClassifierCV

from flywheel.specs import ModelSpec
from flywheel.training.dataset import TimeSplit
from flywheel.training.estimators import build_baseline, build_pipeline
from flywheel.training.evaluate import BusinessOutcome, business_value, classification_metrics, segment_metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    model: FixedThresholdClassifier  # predict_proba = scores, predict = the business decision
    best_params: dict[str, Any]
    cv_score: float
    holdout_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    segments: pd.DataFrame
    business: BusinessOutcome
    baseline_business: BusinessOutcome
    holdout_scores: np.ndarray
    seconds: float


def fit_model(spec: ModelSpec, split: TimeSplit) -> TrainingResult:
    started = time.monotonic()
    features, target = spec.features.all, spec.source.target_column
    X, y = split.train[features], split.train[target].astype(int)
    X_holdout, y_holdout = split.holdout[features], split.holdout[target].astype(int).to_numpy()
    business_scorer = make_scorer(business_value, business=spec.business)

    log.info("%s: baseline (%s) on %d training rows", spec.name, spec.baseline.kind, len(X))
    baseline = TunedThresholdClassifierCV(build_baseline(spec), scoring=business_scorer, cv=split.folds).fit(X, y)

    best_params, cv_score = _search(spec, split, X, y)
    log.info("%s: tuning the decision threshold for the value matrix on %d folds", spec.name, len(split.folds))
    tuned = TunedThresholdClassifierCV(
        build_pipeline(spec, **best_params), scoring=business_scorer, cv=split.folds, refit=True
    ).fit(X, y)
    # What ships is the refitted pipeline behind its fixed threshold: the tuner itself carries the scorer (our
    # value function), which a serving process should not need to unpickle.
    model = FixedThresholdClassifier(
        FrozenEstimator(tuned.estimator_), threshold=float(tuned.best_threshold_), response_method="predict_proba"
    ).fit(X, y)

    score = model.predict_proba(X_holdout)[:, 1]
    baseline_score = baseline.predict_proba(X_holdout)[:, 1]
    result = TrainingResult(
        model=model,
        best_params=best_params,
        cv_score=cv_score,
        holdout_metrics=classification_metrics(y_holdout, score),
        baseline_metrics=classification_metrics(y_holdout, baseline_score),
        segments=segment_metrics(split.holdout, spec.segments, y_holdout, {"model": score, "baseline": baseline_score}),
        business=BusinessOutcome.of(y_holdout, score, float(tuned.best_threshold_), spec.business),
        baseline_business=BusinessOutcome.of(y_holdout, baseline_score, float(baseline.best_threshold_), spec.business),
        holdout_scores=score,
        seconds=time.monotonic() - started,
    )
    log.info(
        "%s: holdout ROC AUC %.4f (baseline %.4f), threshold %.3f, value per 1,000 bookings %.0f %s "
        "(baseline %.0f), %.0f s",
        spec.name,
        result.holdout_metrics["roc_auc"],
        result.baseline_metrics["roc_auc"],
        result.business.threshold,
        result.business.value_per_1000,
        spec.business.currency,
        result.baseline_business.value_per_1000,
        result.seconds,
    )
    return result


def _search(spec: ModelSpec, split: TimeSplit, X: pd.DataFrame, y: pd.Series) -> tuple[dict[str, Any], float]:
    space = {f"model__{k}": v for k, v in spec.estimator.search_space.items()}
    if not space:
        return {}, float("nan")
    total = min(spec.estimator.search_iterations, int(np.prod([len(v) for v in space.values()])))
    log.info(
        "%s: random search, %d candidates x %d time-ordered folds (%s)",
        spec.name,
        total,
        len(split.folds),
        "; ".join(f"fit {f[0]}..{f[-1]} -> validate {v[0]}..{v[-1]}" for f, v in split.fold_months),
    )
    search = RandomizedSearchCV(
        build_pipeline(spec),
        space,
        n_iter=total,
        scoring="roc_auc" if spec.gates.primary_metric == "roc_auc" else "average_precision",
        cv=split.folds,
        refit=False,
        random_state=spec.estimator.random_state,
        n_jobs=2,
        verbose=2,  # one line per fit: the progress of the longest step
    ).fit(X, y)
    best = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
    log.info("%s: best %s = %.4f with %s", spec.name, spec.gates.primary_metric, search.best_score_, best)
    return best, float(search.best_score_)
