"""A warm start continues the champion on new rows: its trees stay as they were, the new rows are binned with its
own bin edges (scikit-learn bins every fit afresh), the result is a plain scikit-learn model behind the same
threshold, and a continuation that cannot be made says why."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss
from sklearn.model_selection import FixedThresholdClassifier

from flywheel.registry.tracking import trusted_types
from flywheel.settings import get_settings
from flywheel.specs import load_spec
from flywheel.training.estimators import build_pipeline
from flywheel.training.warm_start import WarmStartRefused, continued, pipeline_of

HOTEL = load_spec(get_settings().project_dir / "models" / "hotel_cancellation.yaml")
SPEC = HOTEL.model_copy(
    update={"estimator": HOTEL.estimator.model_copy(update={"params": {"max_iter": 20, "early_stopping": False}})}
)


def _rows(n: int, seed: int, lead_scale: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Bookings whose cancellations follow lead time and deposit type; ``lead_scale`` moves lead time's range (new
    rows in another range get other bin edges when binned afresh)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.integers(0, 30, n).astype(float) for c in SPEC.features.numeric})
    frame["lead_time"] = rng.uniform(0, 1, n) * lead_scale
    for c in SPEC.features.categorical:
        frame[c] = rng.choice(["a", "b", "c"], n)
    signal = frame["lead_time"] / lead_scale + (frame["deposit_type"] == "a") + rng.normal(0, 0.5, n)
    return frame[SPEC.features.all], (signal > 1.0).astype(int).to_numpy()


def _champion() -> FixedThresholdClassifier:
    X, y = _rows(3000, 0, 300.0)
    pipeline = build_pipeline(SPEC, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=20).fit(X, y)
    return FixedThresholdClassifier(FrozenEstimator(pipeline), threshold=0.42, response_method="predict_proba").fit(
        X, y
    )


def test_the_continued_model_keeps_the_champion_s_trees_bins_and_threshold_and_learns_the_new_rows():
    champion = _champion()
    X_new, y_new = _rows(2000, 1, 60.0)
    model = continued(champion, X_new, y_new, extra_iterations=15)
    old, new = pipeline_of(champion)[-1], pipeline_of(model)[-1]
    assert type(new) is HistGradientBoostingClassifier and not new.warm_start  # a plain estimator is served
    trusted_types(model)  # and logs through skops like any other (no foreign type)
    assert (old.n_iter_, new.n_iter_) == (20, 35) and model.threshold == 0.42
    assert all(
        np.array_equal(a, b)
        for a, b in zip(old._bin_mapper.bin_thresholds_, new._bin_mapper.bin_thresholds_, strict=True)
    )
    Z = pipeline_of(model)[:-1].transform(X_new)
    first_20 = list(new.staged_predict_proba(Z))[19]
    assert np.array_equal(first_20, old.predict_proba(Z))  # the champion's trees, untouched
    assert log_loss(y_new, model.predict_proba(X_new)) < log_loss(y_new, champion.predict_proba(X_new)) - 0.01
    assert pipeline_of(champion)[-1].n_iter_ == 20  # the champion itself is not changed


def test_the_private_method_the_continuation_overrides_is_still_scikit_learn_s():
    """keeping_bins overrides ``_bin_data(X, sample_weight, is_training_data)`` for the continued fit: a scikit-learn
    release that renames or changes it must fail here, not bin new rows afresh unnoticed."""
    parameters = list(inspect.signature(HistGradientBoostingClassifier._bin_data).parameters)
    assert parameters == ["self", "X", "sample_weight", "is_training_data"]
    assert "self._bin_data(" in inspect.getsource(HistGradientBoostingClassifier.fit.__wrapped__)


def test_new_rows_without_every_class_cannot_continue_the_champion():
    X_new, y_new = _rows(500, 2, 300.0)
    with pytest.raises(WarmStartRefused, match="the new rows hold no label of class"):
        continued(_champion(), X_new, np.zeros_like(y_new), extra_iterations=5)


@pytest.mark.parametrize(
    ("continue_on", "months"), [("new_months", "2016-01..2016-04"), ("all_months", "2015-07..2016-04")]
)
def test_a_warm_start_continues_on_the_new_months_or_on_every_month(continue_on, months):
    """The champion fitted on 2015-07 .. 2015-12: the evaluated model continued before the holdout, the served one on
    every month it may use, with the champion's threshold and no search."""
    from flywheel.training.dataset import Snapshot, time_split
    from flywheel.training.warm_start import Champion, fit_warm_start

    spec = SPEC.model_copy(update={"retrain": SPEC.retrain.model_copy(update={"continue_on": continue_on})})
    dates = pd.date_range("2015-07-01", periods=10 * 30 * 8, freq="3h")
    X, y = _rows(len(dates), 4, 300.0)
    frame = X.assign(arrival_date=dates, booking_key=[str(i) for i in range(len(dates))], is_canceled=y)
    frame["batch_id"] = dates.strftime("%Y-%m")
    split = time_split(Snapshot(frame, "sha", "2015-07-01", "2016-04-30", ()), spec)
    early = frame[frame["arrival_date"] < "2016-01-01"]
    champion = FixedThresholdClassifier(
        FrozenEstimator(build_pipeline(spec, learning_rate=0.1).fit(early[spec.features.all], early["is_canceled"])),
        threshold=0.37,
        response_method="predict_proba",
    ).fit(early[spec.features.all], early["is_canceled"])
    result = fit_warm_start(spec, split, Champion("1", champion, "2015-07", "2015-12"))
    assert result.continuation is not None and result.continuation.endswith(f"rows of {months}")
    assert result.fitted_months == ("2015-07", "2016-04") and result.model.threshold == 0.37
    assert pipeline_of(result.model)[-1].n_iter_ == 20 + spec.retrain.extra_iterations
    assert result.business is not None and result.business.threshold == 0.37
    assert result.cv_score != result.cv_score  # NaN: nothing was searched
