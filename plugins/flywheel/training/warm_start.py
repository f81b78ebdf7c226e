"""Retrain by continuing the champion: more boosting iterations fitted on the months since it was fitted.

What is continued is the champion as registered: its preprocessing (fitted on its own data), its ensemble and its
decision threshold, with its hyper-parameters and no search. As in a full training, what is measured is the
evaluated model (the champion continued on the new months before the holdout) and what serves is the final one
(continued on every new month, the holdout's included).

scikit-learn's ``warm_start`` is made for more iterations on the same data: every fit bins its rows afresh, and
the existing trees split on bin indices of the bins they were grown with. On new rows they would be read against
other bin edges while the new trees are fitted (the raw predictions the new trees correct would be wrong;
predicting is unaffected, it uses real-valued thresholds). ``keeping_bins`` has the continued fit bin the new rows
with the champion's own edges. It overrides one private method of the pinned scikit-learn (``_bin_data``) for the
duration of the fit only, so the served model stays a plain scikit-learn estimator; a unit test holds the old
trees' predictions unchanged and fails if that method changes.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from flywheel.core.tasks import task_of
from flywheel.specs import ModelSpec
from flywheel.training.dataset import TimeSplit, event_months
from flywheel.training.fit import TrainingResult, evaluated, fitted_baseline, training_threads

log = logging.getLogger(__name__)


class WarmStartRefused(ValueError):
    """The champion cannot be continued on these rows (the job trains in full instead, saying why)."""


@dataclass(frozen=True)
class Champion:
    """The version a warm start continues, as the registry holds it."""

    version: str
    model: Any  # the registered model: FixedThresholdClassifier(FrozenEstimator(Pipeline)) or a Pipeline
    fitted_from: str  # its first and last fitted month (YYYY-MM)
    fitted_until: str


def pipeline_of(model: Any) -> Pipeline:
    """The fitted ``preprocess -> model`` pipeline inside a registered model."""
    if isinstance(model, FixedThresholdClassifier):
        model = model.estimator
    if isinstance(model, FrozenEstimator):
        model = model.estimator
    if not isinstance(model, Pipeline):
        raise WarmStartRefused(f"the champion is a {type(model).__name__}, not a fitted pipeline")
    return model


@contextmanager
def keeping_bins(estimator: Any) -> Iterator[Any]:
    """During a continued fit of a HistGradientBoosting estimator: bin the new rows with its own bin edges."""
    original, kept = type(estimator), estimator._bin_mapper

    class KeepingBins(original):  # type: ignore[misc, valid-type]
        def _bin_data(self, X: Any, sample_weight: Any, is_training_data: bool) -> Any:
            if is_training_data:
                self._bin_mapper = kept
                return np.asfortranarray(kept.transform(X))
            return super()._bin_data(X, sample_weight, is_training_data)

    estimator.__class__ = KeepingBins
    try:
        yield estimator
    finally:
        estimator.__class__ = original


def continued(model: Any, X: pd.DataFrame, y: Any, extra_iterations: int) -> Any:
    """A copy of ``model`` with ``extra_iterations`` more iterations fitted on ``X``, ``y`` (through its own
    preprocessing); behind the same threshold for a binary classifier."""
    fitted = copy.deepcopy(pipeline_of(model))
    estimator = fitted[-1]
    missing = set(getattr(estimator, "classes_", ())) - set(np.unique(np.asarray(y)))
    if missing:
        raise WarmStartRefused(f"the new rows hold no label of class(es) {sorted(missing)}: a continued fit needs all")
    estimator.set_params(max_iter=estimator.n_iter_ + extra_iterations, warm_start=True)
    with keeping_bins(estimator):
        estimator.fit(fitted[:-1].transform(X), np.asarray(y))
    estimator.set_params(warm_start=False)
    if isinstance(model, FixedThresholdClassifier):
        return FixedThresholdClassifier(
            FrozenEstimator(fitted), threshold=model.threshold, response_method="predict_proba"
        ).fit(X, y)
    return fitted


def fit_warm_start(spec: ModelSpec, split: TimeSplit, champion: Champion, cores: int = 1) -> TrainingResult:
    """The champion continued with ``retrain.extra_iterations`` on the rows after its last fitted month: evaluated
    on the holdout (continued on the new months before it), served continued on every new month. Raises
    ``WarmStartRefused`` when the champion cannot be continued on these rows."""
    with training_threads(cores):
        return _fit_warm_start(spec, split, champion, cores)


def _fit_warm_start(spec: ModelSpec, split: TimeSplit, champion: Champion, cores: int) -> TrainingResult:
    started = time.monotonic()
    task, features, target = task_of(spec), spec.features.all, spec.source.target_column
    extra = spec.retrain.extra_iterations
    every = pd.concat([split.train, split.holdout], ignore_index=True)
    if not (event_months(every, spec) > champion.fitted_until).any():
        raise WarmStartRefused(
            f"no labelled rows after v{champion.version}'s last fitted month {champion.fitted_until}"
        )
    since = champion.fitted_until if spec.retrain.continue_on == "new_months" else ""  # "": every month
    new_rows = every[event_months(every, spec) > since]
    before_holdout = split.train[event_months(split.train, spec) > since]
    if before_holdout.empty:  # the champion was fitted up to the holdout: it is its own evaluated model
        evaluated_model = champion.model
    else:
        evaluated_model = continued(champion.model, before_holdout[features], task.label(before_holdout[target]), extra)
    estimator = pipeline_of(champion.model)[-1]
    params = {k: estimator.get_params()[k] for k in spec.estimator.search_space}
    threshold = getattr(champion.model, "threshold", None)
    baseline, baseline_threshold = fitted_baseline(spec, split)
    thresholds = (threshold, baseline_threshold) if threshold is not None and baseline_threshold is not None else None
    result = evaluated(spec, split, evaluated_model, baseline, params, float("nan"), started, thresholds, cores)
    how = (
        f"warm start: v{champion.version} ({estimator.n_iter_} iterations, fitted {champion.fitted_from}.."
        f"{champion.fitted_until}) + {extra} iterations on {len(new_rows)} rows of "
        f"{event_months(new_rows, spec).min()}..{event_months(new_rows, spec).max()}"
    )
    if spec.split.final_fit == "train":
        return replace(result, continuation=how, fitted_months=(champion.fitted_from, split.train_months[-1]))
    model = continued(champion.model, new_rows[features], task.label(new_rows[target]), extra)
    log.info("%s: %s, %.1f s", spec.name, how, time.monotonic() - started)
    return replace(
        result,
        model=model,
        seconds=time.monotonic() - started,
        continuation=how,
        fitted_months=(champion.fitted_from, split.holdout_months[-1]),
    )
