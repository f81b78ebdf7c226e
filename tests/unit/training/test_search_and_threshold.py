"""The search keeps its folds' validation scores and the threshold is tuned on them: both must choose exactly what
scikit-learn's RandomizedSearchCV and TunedThresholdClassifierCV (which fitted the folds again) choose."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import make_scorer
from sklearn.model_selection import RandomizedSearchCV, TunedThresholdClassifierCV

from flywheel.settings import get_settings
from flywheel.specs import load_spec
from flywheel.training.dataset import Snapshot, time_split
from flywheel.training.estimators import build_pipeline
from flywheel.training.evaluate import business_value
from flywheel.training.search import FoldScores, candidates, search
from flywheel.training.threshold import tuned_threshold

HOTEL = load_spec(get_settings().models_dir / "hotel_cancellation.yaml")
SPEC = HOTEL.model_copy(
    update={"estimator": HOTEL.estimator.model_copy(update={"params": {"max_iter": 15, "early_stopping": False}})}
)


def _split():  # type: ignore[no-untyped-def]
    """Ten months of bookings whose cancellations follow lead time and deposit type, with noise."""
    rng = np.random.default_rng(3)
    dates = pd.date_range("2015-07-01", periods=10 * 30 * 8, freq="3h")
    frame = pd.DataFrame({c: rng.integers(0, 30, len(dates)).astype(float) for c in SPEC.features.numeric})
    for c in SPEC.features.categorical:
        frame[c] = rng.choice(["a", "b", "c", "d"], len(dates))
    frame["arrival_date"], frame["booking_key"] = dates, [str(i) for i in range(len(dates))]
    frame["batch_id"] = dates.strftime("%Y-%m")
    signal = frame["lead_time"] / 30 + (frame["deposit_type"] == "a") + rng.normal(0, 0.6, len(dates))
    frame["is_canceled"] = (signal > 1.0).astype(int)
    return time_split(Snapshot(frame, "sha", "", "", ()), SPEC)


def test_the_search_chooses_what_randomized_search_cv_chooses():
    split = _split()
    X, y = split.train[SPEC.features.all], split.train["is_canceled"]
    ours = search(SPEC, split, X, y, n_jobs=1, keep_folds=True)
    space = {f"model__{k}": v for k, v in SPEC.estimator.search_space.items()}
    theirs = RandomizedSearchCV(
        build_pipeline(SPEC),
        space,
        n_iter=len(candidates(SPEC)),
        scoring="roc_auc",
        cv=split.folds,
        refit=False,
        random_state=SPEC.estimator.random_state,
    ).fit(X, y)
    assert ours.params == {k.removeprefix("model__"): v for k, v in theirs.best_params_.items()}
    assert ours.cv_score == pytest.approx(theirs.best_score_, abs=1e-12)
    assert [len(f.y_true) for f in ours.folds] == [len(v) for _, v in split.folds]


def test_the_threshold_is_the_one_tuned_threshold_classifier_cv_finds():
    split = _split()
    X = split.train[list(SPEC.features.numeric)].to_numpy()
    y = split.train["is_canceled"].to_numpy()
    business = SPEC.business
    assert business is not None
    folds = []
    for fit_idx, val_idx in split.folds:
        model = LogisticRegression().fit(X[fit_idx], y[fit_idx])
        folds.append(FoldScores(y[val_idx], model.predict_proba(X[val_idx])[:, 1]))
    ours = tuned_threshold(folds, lambda y_true, flagged: business_value(y_true, flagged, business))
    tuner = TunedThresholdClassifierCV(
        LogisticRegression(), scoring=make_scorer(business_value, business=business), cv=split.folds
    ).fit(X, y)
    assert ours == pytest.approx(float(tuner.best_threshold_), abs=1e-12)
    assert 0.0 < ours < 1.0


def test_a_constant_model_has_no_threshold():
    fold = FoldScores(np.array([0, 1, 1]), np.array([0.4, 0.4, 0.4]))
    with pytest.raises(ValueError, match="constant predictions"):
        tuned_threshold([fold], lambda y_true, flagged: float(flagged.sum()))
