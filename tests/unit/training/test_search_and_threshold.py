"""The search keeps its folds' validation scores and the threshold is tuned on them: they must choose exactly what
scikit-learn's RandomizedSearchCV, HalvingRandomSearchCV and TunedThresholdClassifierCV (which fit every rung and
the folds again from the start) choose."""

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
from flywheel.training.halving import Rung, rungs, search_plan
from flywheel.training.search import FoldScores, candidates, search
from flywheel.training.threshold import tuned_threshold

HOTEL = load_spec(get_settings().project_dir / "models" / "hotel_cancellation.yaml")
SPEC = HOTEL.model_copy(
    update={"estimator": HOTEL.estimator.model_copy(update={"params": {"max_iter": 15, "early_stopping": False}})}
)
EXHAUSTIVE = SPEC.model_copy(update={"estimator": SPEC.estimator.model_copy(update={"search_strategy": "exhaustive"})})


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
    ours = search(EXHAUSTIVE, split, X, y, n_jobs=1, keep_folds=True)
    space = {f"model__{k}": v for k, v in SPEC.estimator.search_space.items()}
    theirs = RandomizedSearchCV(
        build_pipeline(EXHAUSTIVE),
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


def test_halving_chooses_what_halving_random_search_cv_chooses_with_fewer_iterations():
    """Six candidates with 5 iterations, the best two with 15 (continued, not fitted again): the same choice and
    fold score as scikit-learn's successive halving, which fits each rung from the start."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    split = _split()
    X, y = split.train[SPEC.features.all], split.train["is_canceled"]
    assert rungs(len(candidates(SPEC)), 15, 3) == (Rung(6, 5), Rung(2, 15))
    ours = search(SPEC, split, X, y, n_jobs=2, keep_folds=True)
    theirs = HalvingRandomSearchCV(
        build_pipeline(SPEC),
        {f"model__{k}": v for k, v in SPEC.estimator.search_space.items()},
        n_candidates=len(candidates(SPEC)),
        resource="model__max_iter",
        max_resources=15,
        min_resources="exhaust",
        factor=3,
        scoring="roc_auc",
        cv=split.folds,
        refit=False,
        random_state=SPEC.estimator.random_state,
    ).fit(X, y)
    assert list(theirs.n_resources_) == [5, 15] and list(theirs.n_candidates_) == [6, 2]
    assert ours.params == {
        k.removeprefix("model__"): v for k, v in theirs.best_params_.items() if k != "model__max_iter"
    }
    assert ours.cv_score == pytest.approx(theirs.best_score_, abs=1e-12)
    exhaustive = search(EXHAUSTIVE, split, X, y, n_jobs=1, keep_folds=True)
    assert ours.cv_score <= exhaustive.cv_score + 1e-12  # the same candidates' scores: never better than all


def test_a_continued_fit_is_the_fit_with_all_iterations_from_the_start():
    split = _split()
    X, y = split.train[SPEC.features.all], split.train["is_canceled"]
    for class_path, param in (
        ("sklearn.ensemble.HistGradientBoostingClassifier", "max_iter"),
        ("sklearn.ensemble.RandomForestClassifier", "n_estimators"),
    ):
        spec = SPEC.model_copy(
            update={"estimator": SPEC.estimator.model_copy(update={"class_path": class_path, "params": {param: 12}})}
        )
        direct = build_pipeline(spec).fit(X, y)
        continued = build_pipeline(spec).set_params(**{f"model__{param}": 4, "model__warm_start": True}).fit(X, y)
        continued[-1].set_params(**{param: 12}).fit(continued[:-1].transform(X), y)
        assert np.array_equal(direct.predict_proba(X), continued.predict_proba(X)), class_path


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ({"search_strategy": "exhaustive"}, "the spec asks for an exhaustive search"),
        ({"class_path": "sklearn.linear_model.LogisticRegression", "params": {}}, "does not grow by iterations"),
        ({"params": {"max_iter": 300}}, "early stopping is on"),
        ({"search_space": {**SPEC.estimator.search_space, "max_iter": [100, 300]}}, "'max_iter' is searched itself"),
        ({"search_iterations": 2}, "too few to halve by 3"),
    ],
)
def test_a_search_that_cannot_halve_is_exhaustive_and_says_why(update, reason):  # type: ignore[no-untyped-def]
    estimator = SPEC.estimator.model_copy(update=update)
    plan = search_plan(estimator, len(candidates(SPEC.model_copy(update={"estimator": estimator}))))
    assert plan.iteration_param is None and len(plan.rungs) == 1
    assert plan.why.startswith("exhaustive: ") and reason in plan.why


def test_rungs_narrow_by_the_factor_up_to_the_spec_s_iterations():
    assert rungs(6, 300, 3) == (Rung(6, 100), Rung(2, 300))
    assert rungs(4, 150, 3) == (Rung(4, 50), Rung(2, 150))
    assert rungs(9, 300, 3) == (Rung(9, 33), Rung(3, 100), Rung(1, 300))
    assert rungs(8, 100, 2) == (Rung(8, 12), Rung(4, 25), Rung(2, 50), Rung(1, 100))
    assert rungs(27, 5, 3) == (Rung(27, 1), Rung(9, 5))  # no rung below one iteration
    assert rungs(2, 300, 3) == (Rung(2, 300),)


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
