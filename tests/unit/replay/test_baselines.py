"""The demo's yardsticks: the calendar spends the loop's budget evenly, and a refit keeps the first champion's
hyper-parameters but learns from the new rows (a frozen, already fitted pipeline would learn nothing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier

from flywheel.settings import get_settings
from flywheel.specs import load_spec
from flywheel_replay.baselines import refit, schedule

MONTHS = [f"2016-{m:02d}" for m in range(7, 13)] + [f"2017-{m:02d}" for m in range(1, 9)]


def test_the_calendar_spreads_the_loops_retrains_evenly():
    assert schedule(MONTHS, 3) == ["2016-11", "2017-02", "2017-05"]
    assert schedule(MONTHS, 0) == []
    assert schedule(MONTHS[:6], 2) == ["2016-09", "2016-11"]
    assert len(schedule(MONTHS, 40)) == len(MONTHS) - 1  # at most once a month, never before the first month


def test_a_refit_unfreezes_the_tuned_pipeline_and_learns_the_new_rows():
    spec = load_spec(get_settings().project_dir / "models" / "hotel_cancellation.yaml")
    rng = np.random.default_rng(0)
    feature = spec.features.numeric[0]
    old = pd.DataFrame({feature: rng.normal(size=400)})
    fitted = LogisticRegression(C=0.5).fit(old[[feature]], (old[feature] > 0).astype(int))
    champion = FixedThresholdClassifier(FrozenEstimator(fitted), threshold=0.3, response_method="predict_proba")
    new = pd.DataFrame({c: 0.0 for c in spec.features.all}, index=range(400))
    new[feature] = rng.normal(size=400)
    new[spec.source.target_column] = (new[feature] < 0).astype(int)  # the relation flipped
    spec_one_feature = spec.model_copy(
        update={"features": spec.features.model_copy(update={"numeric": (feature,), "categorical": ()})}
    )
    model = refit(champion, new, spec_one_feature)
    assert isinstance(model, LogisticRegression) and model.C == 0.5  # same hyper-parameters, not frozen
    assert model.coef_[0][0] < 0 < fitted.coef_[0][0]  # it learnt the new rows
