"""Fit a model from its spec: baseline, random search on time-ordered folds, holdout metrics; for a binary
classifier also the business threshold (the value matrix decides where a score becomes an action)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import make_scorer
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV

from flywheel.core.tasks import BINARY_CLASSIFICATION, primary_metric, task_of
from flywheel.specs import BusinessSpec, ModelSpec, ValueMatrixSpec
from flywheel.training.dataset import TimeSplit
from flywheel.training.disparity import Disparity, decision_disparity
from flywheel.training.estimators import build_baseline, build_pipeline
from flywheel.training.evaluate import BusinessOutcome, business_value, segment_metrics
from flywheel.training.importance import holdout_importance
from flywheel.training.search import search
from flywheel.training.threshold import tuned_threshold

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    model: Any  # classifier: FixedThresholdClassifier (predict_proba = scores, predict = decision); else a Pipeline
    best_params: dict[str, Any]
    cv_score: float  # the primary metric across the search folds, in its own units
    holdout_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    segments: pd.DataFrame
    holdout_scores: np.ndarray
    seconds: float
    business: BusinessOutcome | None = None  # binary classification only
    baseline_business: BusinessOutcome | None = None
    fitted_months: tuple[str, str] = ("", "")  # the first and last month the served model was fitted on
    importance: dict[str, float] | None = None  # permutation importance on the holdout, per input column
    continuation: str | None = None  # a warm start: what was continued, with what (training.warm_start)
    scoring_cpu_per_1000: float | None = None  # CPU seconds to score 1,000 rows (the holdout scored at once)
    disparity: Disparity | None = None  # a binary classifier's decision by segment (training.disparity)


def fit_model(spec: ModelSpec, split: TimeSplit, cores: int = 1) -> TrainingResult:
    """``cores`` (settings.training_cores): what this training may use, and no more. Work made of many fits (the
    search's candidates x folds, the importance's columns) runs ``cores`` processes of one OpenMP thread each; a
    single fit (on the training months, the final fit) runs ``cores`` OpenMP threads. Without the caps a fit takes
    every core it sees: on a shared worker 2 threads per fit made threshold tuning 82 % of a 356 s training (a
    single fit ran 4.7x faster on one thread). The result does not depend on ``cores``."""
    with training_threads(cores):
        if spec.task == BINARY_CLASSIFICATION:
            return _fit_classifier(spec, split, cores)
        return _fit_without_threshold(spec, split, cores)


@contextmanager
def training_threads(cores: int) -> Iterator[None]:
    """``cores`` loky processes of one OpenMP thread each for work made of many fits, ``cores`` OpenMP threads for
    a single fit (``fit_model``)."""
    from joblib import parallel_config
    from threadpoolctl import threadpool_limits

    with parallel_config(backend="loky", inner_max_num_threads=1), threadpool_limits(limits=cores):
        yield


def _fit_without_threshold(spec: ModelSpec, split: TimeSplit, n_jobs: int) -> TrainingResult:
    """A regressor, or a multiclass classifier (its decision is the most probable class or the value matrix's best
    expected value, flywheel.core.tasks: no threshold to tune)."""
    started = time.monotonic()
    task, features, target = task_of(spec), spec.features.all, spec.source.target_column
    X, y = split.train[features], task.label(split.train[target])
    baseline, _ = fitted_baseline(spec, split)
    searched = search(spec, split, X, y, n_jobs, keep_folds=False)
    best_params, cv_score = searched.params, searched.cv_score
    model = build_pipeline(spec, **best_params).fit(X, y)
    result = evaluated(spec, split, model, baseline, best_params, cv_score, started, n_jobs=n_jobs)
    return _final_fit(spec, split, result, lambda X_all, y_all: build_pipeline(spec, **best_params).fit(X_all, y_all))


def fitted_baseline(spec: ModelSpec, split: TimeSplit) -> tuple[Any, float | None]:
    """The spec's baseline fitted on the training months; for a binary classifier behind its own threshold, tuned
    on the folds as the model's is (returned beside it)."""
    task, features, target = task_of(spec), spec.features.all, spec.source.target_column
    X, y = split.train[features], task.label(split.train[target])
    log.info("%s: baseline (%s) on %d training rows", spec.name, spec.baseline.kind, len(X))
    business = spec.business
    if spec.task != BINARY_CLASSIFICATION or not isinstance(business, BusinessSpec):
        return build_baseline(spec).fit(X, y), None
    scorer = make_scorer(business_value, business=business)
    baseline = TunedThresholdClassifierCV(build_baseline(spec), scoring=scorer, cv=split.folds).fit(X, y)
    return baseline, float(baseline.best_threshold_)


def evaluated(
    spec: ModelSpec,
    split: TimeSplit,
    model: Any,
    baseline: Any,
    best_params: dict[str, Any],
    cv_score: float,
    started: float,
    thresholds: tuple[float, float] | None = None,
    n_jobs: int = 1,
) -> TrainingResult:
    """The fitted model and baseline on the holdout; with ``thresholds`` (model's, baseline's) also the value of
    a binary classifier's decisions, with a value matrix that of a multiclass one's."""
    task = task_of(spec)
    X_holdout, y_holdout = split.holdout[spec.features.all], task.label(split.holdout[spec.source.target_column])
    cpu = time.process_time()
    score = task.score(model, X_holdout)
    scoring_cpu = time.process_time() - cpu
    baseline_score = task.score(baseline, X_holdout)
    business: dict[str, BusinessOutcome] = {}
    if thresholds is not None and isinstance(spec.business, BusinessSpec):
        business = {
            "business": BusinessOutcome.of(y_holdout, score, thresholds[0], spec.business),
            "baseline_business": BusinessOutcome.of(y_holdout, baseline_score, thresholds[1], spec.business),
        }
    elif isinstance(spec.business, ValueMatrixSpec):
        business = {
            "business": BusinessOutcome.of_decisions(y_holdout, task.decisions(model, score, X_holdout), task),
            "baseline_business": BusinessOutcome.of_decisions(
                y_holdout, task.decisions(baseline, baseline_score, X_holdout), task
            ),
        }
    result = TrainingResult(
        model=model,
        best_params=best_params,
        cv_score=cv_score,
        holdout_metrics=task.evaluate(y_holdout, score),
        baseline_metrics=task.evaluate(y_holdout, baseline_score),
        segments=segment_metrics(
            split.holdout, spec.segments, y_holdout, {"model": score, "baseline": baseline_score}, task
        ),
        holdout_scores=score,
        seconds=time.monotonic() - started,
        business=business.get("business"),
        baseline_business=business.get("baseline_business"),
        importance=holdout_importance(model, X_holdout, y_holdout, primary_metric(spec).sklearn_scoring, n_jobs=n_jobs),
        scoring_cpu_per_1000=1000 * scoring_cpu / len(X_holdout) if len(X_holdout) else None,
        disparity=None
        if thresholds is None
        else decision_disparity(
            split.holdout, spec.segments, y_holdout, score >= thresholds[0], spec.gates.min_segment_rows
        ),
    )
    _log_result(spec, result)
    return result


def _log_result(spec: ModelSpec, result: TrainingResult) -> None:
    metric = primary_metric(spec)
    business = ""
    if result.business and result.baseline_business and spec.business:
        threshold = "" if result.business.threshold is None else f", threshold {result.business.threshold:.3f}"
        business = (
            f"{threshold}, value per 1,000 rows "
            f"{result.business.value_per_1000:.0f} {spec.business.currency} "
            f"(baseline {result.baseline_business.value_per_1000:.0f})"
        )
    log.info(
        "%s: holdout %s %.4f (baseline %.4f)%s, %.0f s",
        spec.name,
        metric.label,
        result.holdout_metrics[metric.name],
        result.baseline_metrics[metric.name],
        business,
        result.seconds,
    )


def _fit_classifier(spec: ModelSpec, split: TimeSplit, n_jobs: int) -> TrainingResult:
    started = time.monotonic()
    business = spec.business
    if not isinstance(business, BusinessSpec):  # the spec's validator requires it for a binary classifier
        raise ValueError(f"{spec.name}: a binary classifier needs a 'business' section")
    features, target = spec.features.all, spec.source.target_column
    X, y = split.train[features], split.train[target].astype(int)
    baseline, baseline_threshold = fitted_baseline(spec, split)

    searched = search(spec, split, X, y, n_jobs, keep_folds=True)
    best_params, cv_score = searched.params, searched.cv_score
    threshold = tuned_threshold(searched.folds, lambda y_true, flagged: business_value(y_true, flagged, business))
    log.info(
        "%s: decision threshold %.3f (the value matrix on the search's folds); fitting on all training months",
        spec.name,
        threshold,
    )
    # What ships is the fitted pipeline behind its fixed threshold (predict_proba = scores, predict = decision).
    pipeline = build_pipeline(spec, **best_params).fit(X, y)
    model = FixedThresholdClassifier(
        FrozenEstimator(pipeline), threshold=threshold, response_method="predict_proba"
    ).fit(X, y)

    if baseline_threshold is None:  # fitted_baseline tunes one for every binary classifier with a business section
        raise ValueError(f"{spec.name}: the baseline has no decision threshold")
    thresholds = (threshold, baseline_threshold)
    result = evaluated(spec, split, model, baseline, best_params, cv_score, started, thresholds, n_jobs)

    def refit(X_all: pd.DataFrame, y_all: Any) -> Any:
        pipeline = build_pipeline(spec, **best_params).fit(X_all, y_all)
        return FixedThresholdClassifier(
            FrozenEstimator(pipeline), threshold=thresholds[0], response_method="predict_proba"
        ).fit(X_all, y_all)

    return _final_fit(spec, split, result, refit)


def _final_fit(
    spec: ModelSpec, split: TimeSplit, result: TrainingResult, refit: Callable[[pd.DataFrame, Any], Any]
) -> TrainingResult:
    """The model that serves: the evaluated configuration refitted on train + holdout (``split.final_fit``), so
    it has seen the latest months. Everything measured stays as measured, on the holdout it had not seen."""
    if spec.split.final_fit == "train":
        return replace(result, fitted_months=(split.train_months[0], split.train_months[-1]))
    started = time.monotonic()
    every = pd.concat([split.train, split.holdout], ignore_index=True)
    X_all, y_all = every[spec.features.all], task_of(spec).label(every[spec.source.target_column])
    model = refit(X_all, y_all)
    log.info(
        "%s: final fit on %d rows (%s..%s: train and holdout), %.0f s",
        spec.name,
        len(X_all),
        split.train_months[0],
        split.holdout_months[-1],
        time.monotonic() - started,
    )
    return replace(
        result,
        model=model,
        seconds=result.seconds + time.monotonic() - started,
        fitted_months=(split.train_months[0], split.holdout_months[-1]),
    )
