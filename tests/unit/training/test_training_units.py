"""Training building blocks: the time split never looks ahead; the baseline and value matrix behave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel.core.tasks import task_of
from flywheel.settings import get_settings
from flywheel.specs import load_spec
from flywheel.training.dataset import Snapshot, time_split
from flywheel.training.estimators import GroupMeanRegressor, OneRuleClassifier, build_pipeline
from flywheel.training.evaluate import business_value

SPEC = load_spec(get_settings().project_dir / "models" / "hotel_cancellation.yaml")


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


# -- the task decides: regression ---------------------------------------------------------------------------------

BIKE = load_spec(get_settings().project_dir / "models" / "bike_demand.yaml")


def _bike_snapshot(months: int = 8) -> Snapshot:
    """Hourly rows whose rentals follow the hour of day and the temperature (plus noise)."""
    rng = np.random.default_rng(1)
    hours = pd.date_range("2011-01-01", periods=months * 30 * 24, freq="h")
    frame = pd.DataFrame({c: rng.random(len(hours)) for c in BIKE.features.numeric})
    frame["hour_of_day"] = hours.hour.astype(float)
    for c in BIKE.features.categorical:
        frame[c] = rng.choice(["x", "y"], len(hours))
    frame["is_working_day"] = rng.integers(0, 2, len(hours)).astype(float)
    frame["rental_hour"] = hours
    frame["rental_hour_key"] = hours.strftime("%Y-%m-%dT%H")
    frame["batch_id"] = hours.strftime("%Y-%m")
    peak = np.where(frame["hour_of_day"].between(7, 19), 200.0, 20.0)
    frame["rentals"] = rng.poisson(peak * (0.5 + frame["temperature_norm"]))
    return Snapshot(frame, "sha", "", "", ())


def test_a_regression_spec_trains_without_a_decision_and_reports_errors():
    from flywheel.training.fit import fit_model

    split = time_split(_bike_snapshot(), BIKE)
    result = fit_model(BIKE, split)
    assert result.business is None and result.baseline_business is None
    assert {"mae", "rmse", "mape", "mean_label", "rows"} <= set(result.holdout_metrics)
    # The per-hour baseline already knows the peak; the model also learns the temperature.
    assert result.holdout_metrics["mae"] < result.baseline_metrics["mae"]
    assert {"model_mae", "baseline_mae", "model_rmse"} <= set(result.segments.columns)
    assert result.cv_score > 0  # an error in its own units, not scikit-learn's negated score
    scores = task_of(BIKE).score(result.model, split.holdout[BIKE.features.all])
    assert scores.dtype == float and task_of(BIKE).decisions(result.model, scores, None) == [None] * len(scores)


def test_group_mean_baseline_learns_per_value_means_and_falls_back_to_the_mean():
    X = pd.DataFrame({"hour_of_day": [7, 7, 3, 3]})
    model = GroupMeanRegressor("hour_of_day").fit(X, [100, 200, 10, 30])
    assert model.predict(pd.DataFrame({"hour_of_day": [7, 3, 12]})).tolist() == [150.0, 20.0, 85.0]


def test_metric_direction():
    from flywheel.core.tasks import METRICS

    mae, auc = METRICS["mae"], METRICS["roc_auc"]
    assert mae.advantage(10.0, 12.0) == 2.0 and auc.advantage(0.80, 0.75) == pytest.approx(0.05)
    assert mae.bound(30.0, 5.0) == 35.0 and auc.bound(0.9, 0.03) == pytest.approx(0.87)
    assert auc.value([1, 1, 1], [0.2, 0.4, 0.9]) is None  # undefined on one class
    assert METRICS["mae"].value([1.0, 3.0], [2.0, 2.0]) == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gates": {**BIKE.gates.model_dump(), "primary_metric": "roc_auc"}}, "does not judge a regression"),
        ({"business": SPEC.business.model_dump()}, "must not have"),
    ],
)
def test_a_spec_must_match_its_task(change, message):
    from flywheel.specs import ModelSpec

    with pytest.raises(ValueError, match=message):
        ModelSpec.model_validate({**BIKE.model_dump(), **change})


def test_the_served_model_is_refitted_on_the_holdout_and_its_figures_stay_those_measured_without_it():
    """split.final_fit: train_and_holdout (the default) serves the evaluated configuration refitted on every
    labelled month; the holdout figures and the scores the gate compares are the evaluated model's."""
    from flywheel.training.fit import fit_model

    split = time_split(_bike_snapshot(), BIKE)
    served = fit_model(BIKE, split)
    evaluated_only = fit_model(
        BIKE.model_copy(update={"split": BIKE.split.model_copy(update={"final_fit": "train"})}), split
    )
    assert served.fitted_months == (split.train_months[0], split.holdout_months[-1])
    assert evaluated_only.fitted_months == (split.train_months[0], split.train_months[-1])
    assert served.holdout_metrics == evaluated_only.holdout_metrics  # measured on rows neither had seen
    assert np.array_equal(served.holdout_scores, evaluated_only.holdout_scores)
    task, X = task_of(BIKE), split.holdout[BIKE.features.all]
    assert np.array_equal(task.score(evaluated_only.model, X), evaluated_only.holdout_scores)
    assert not np.allclose(task.score(served.model, X), served.holdout_scores)  # the served model saw these rows
