"""Training building blocks: the time split never looks ahead; the baseline and value matrix behave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel.settings import get_settings
from flywheel.specs import load_spec
from flywheel.training.dataset import Snapshot, time_split
from flywheel.training.estimators import OneRuleClassifier, build_pipeline
from flywheel.training.evaluate import business_value

SPEC = load_spec(get_settings().models_dir / "hotel_cancellation.yaml")


def _snapshot(months: int) -> Snapshot:
    rng = np.random.default_rng(0)
    dates = pd.date_range("2015-07-01", periods=months * 30, freq="D")
    frame = pd.DataFrame({c: rng.integers(0, 5, len(dates)).astype(float) for c in SPEC.features.numeric})
    for c in SPEC.features.categorical:
        frame[c] = rng.choice(["a", "b", "c"], len(dates))
    frame["arrival_date"] = dates
    frame["booking_key"] = [str(i) for i in range(len(dates))]
    frame["batch_id"] = dates.strftime("%Y-%m")
    frame["is_canceled"] = (frame["lead_time"] > 2).astype(int)
    return Snapshot(frame, "sha", "", "", ())


def test_split_trains_on_the_past_and_holds_out_the_latest_months():
    split = time_split(_snapshot(12), SPEC)
    assert split.holdout_months == sorted(split.holdout_months)
    assert max(split.train_months) < min(split.holdout_months)
    assert len(split.holdout_months) == SPEC.split.holdout_months
    for (fit_months, val_months), (fit_idx, val_idx) in zip(split.fold_months, split.folds, strict=True):
        assert max(fit_months) < min(val_months)
        assert split.train["arrival_date"].iloc[fit_idx].max() < split.train["arrival_date"].iloc[val_idx].min()


def test_split_refuses_too_few_months():
    with pytest.raises(ValueError, match="months of labelled data"):
        time_split(_snapshot(4), SPEC)


def test_pipeline_scores_unseen_categories_and_missing_values():
    split = time_split(_snapshot(12), SPEC)
    model = build_pipeline(SPEC, max_iter=20).fit(split.train[SPEC.features.all], split.train["is_canceled"])
    odd = split.holdout[SPEC.features.all].head(3).copy()
    odd["country_code"] = ["never-seen", None, "a"]
    odd["adr"] = [np.nan, 1e6, -5]
    proba = model.predict_proba(odd)[:, 1]
    assert proba.shape == (3,) and np.all((proba >= 0) & (proba <= 1))


def test_one_rule_baseline_learns_per_value_rates_and_falls_back_to_the_prior():
    X = pd.DataFrame({"deposit_type": ["a", "a", "b", "b"]})
    model = OneRuleClassifier("deposit_type").fit(X, [1, 1, 0, 1])
    proba = model.predict_proba(pd.DataFrame({"deposit_type": ["a", "b", "zzz"]}))[:, 1]
    assert proba.tolist() == [1.0, 0.5, 0.75]


def test_value_matrix():
    assert business_value(np.array([1, 0, 1, 0]), np.array([1, 1, 0, 0]), SPEC.business) == pytest.approx(
        SPEC.business.value_true_positive - SPEC.business.cost_false_positive
    )
