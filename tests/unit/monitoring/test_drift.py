"""Drift verdicts that deserve trust: rare false alarms on resamples of the reference, reliable detection of a real
shift, no verdict on too few rows, and the same numbers as Evidently's report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel.monitoring.drift import DriftSettings, check_drift, column_drift

NUMERIC = [f"n{i}" for i in range(10)]
CATEGORICAL = ["c_small", "c_wide"]
SETTINGS = DriftSettings()


def _reference(rows: int = 60_000, seed: int = 1) -> pd.DataFrame:
    """10 numeric columns (normal, skewed, integer counts) and 2 categorical (6 and 150 categories)."""
    rng = np.random.default_rng(seed)
    columns = {}
    for i, name in enumerate(NUMERIC):
        kind = i % 3
        columns[name] = (
            rng.normal(0, 1, rows) if kind == 0 else rng.gamma(2, 10, rows) if kind == 1 else rng.poisson(1.5, rows)
        ).astype(float)
    columns["c_small"] = rng.choice(list("abcdef"), rows, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05])
    wide_p = np.r_[np.full(10, 0.07), np.full(140, 0.3 / 140)]
    columns["c_wide"] = rng.choice([f"k{i}" for i in range(150)], rows, p=wide_p)
    return pd.DataFrame(columns)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _reference()


@pytest.mark.parametrize("rows", [1_000, 10_000, 100_000])
def test_resamples_of_the_reference_are_rarely_critical(reference: pd.DataFrame, rows: int) -> None:
    severities = [
        check_drift(
            reference, reference.sample(rows, replace=True, random_state=k), NUMERIC, CATEGORICAL, SETTINGS
        ).severity
        for k in range(100)
    ]
    counts = pd.Series(severities).value_counts()
    print(f"{rows:,} rows, 100 resamples: {counts.to_dict()}")
    assert counts.get("critical", 0) <= 5
    assert counts.get("insufficient_data", 0) == 0


@pytest.mark.parametrize("rows", [1_000, 10_000, 100_000])
def test_a_half_sd_shift_of_30_percent_of_the_columns_is_caught(reference: pd.DataFrame, rows: int) -> None:
    shifted_columns = NUMERIC[:4]  # 4 of 12 columns = 33 %, at least 30 %
    caught = 0
    trials = 100
    for k in range(trials):
        current = reference.sample(rows, replace=True, random_state=1000 + k)
        for column in shifted_columns:
            current[column] = current[column] + 0.5 * reference[column].std()
        verdict = check_drift(reference, current, NUMERIC, CATEGORICAL, SETTINGS)
        caught += verdict.severity == "critical" and set(shifted_columns) <= {c.column for c in verdict.drifted}
    print(f"{rows:,} rows: caught {caught} of {trials}")
    assert caught >= 0.95 * trials


def test_too_few_rows_give_no_verdict(reference: pd.DataFrame) -> None:
    verdict = check_drift(reference, reference.head(100), NUMERIC, CATEGORICAL, SETTINGS)
    assert verdict.severity == "insufficient_data"
    assert "needs 500" in verdict.reason and not verdict.columns


def test_small_windows_raise_the_threshold_to_the_noise_of_their_size(reference: pd.DataFrame) -> None:
    """150 categories in 1,000 rows are ~0.15 apart by chance alone: the threshold follows, the effect floor stays."""
    small = column_drift(
        "c_wide", "categorical", reference["c_wide"], reference["c_wide"].sample(1000, random_state=0), SETTINGS
    )
    large = column_drift(
        "c_wide", "categorical", reference["c_wide"], reference["c_wide"].sample(50_000, random_state=0), SETTINGS
    )
    assert small.threshold > SETTINGS.effect_threshold and not small.drifted
    assert large.threshold == SETTINGS.effect_threshold


def test_direction_and_missing_values_are_reported() -> None:
    ref = pd.Series(np.arange(1000, dtype=float))
    higher = column_drift("x", "numeric", ref, ref + 300, SETTINGS)
    assert higher.drifted and higher.direction.startswith("higher")
    gone = column_drift("x", "numeric", ref, pd.Series([np.nan] * 600), SETTINGS)
    assert gone.drifted and gone.direction == "all values missing" and gone.missing_share_current == 1.0
    more = column_drift(
        "c", "categorical", pd.Series(["a"] * 900 + ["b"] * 100), pd.Series(["a"] * 500 + ["b"] * 500), SETTINGS
    )
    assert more.drifted and more.direction.startswith("more 'b'")


def test_statistics_equal_evidently_report_values(reference: pd.DataFrame) -> None:
    """The verdict and the HTML report must agree: same statistic per column as Evidently computes."""
    from flywheel.monitoring.evidently_report import render

    current = reference.sample(3000, random_state=3).copy()
    current["n1"] = current["n1"] * 1.3
    verdict = check_drift(reference.head(5000), current, NUMERIC, CATEGORICAL, SETTINGS)
    import json

    report = json.loads(
        render(reference.head(5000), current, verdict, NUMERIC, CATEGORICAL, None, "binary_classification").json
    )
    evidently = {
        m["config"]["column"]: (m["value"], m["config"]["threshold"])
        for m in report["metrics"]
        if m["config"].get("type") == "evidently:metric_v2:ValueDrift"
    }
    for column in verdict.columns:
        value, threshold = evidently[column.column]
        assert value == pytest.approx(column.statistic, abs=1e-5), column.column
        assert threshold == pytest.approx(column.threshold, abs=1e-5), column.column


@pytest.mark.parametrize("rows", [30, 1_000, 10_000])
def test_categories_that_appear_vanish_or_collapse_are_reported_at_any_size(rows):
    """Exact for the window's size: nothing when the shares hold (200 windows each), the change when they do not,
    even below `min_rows` where the window gets no verdict."""
    from flywheel.monitoring.categories import category_changes

    categories, shares = list("ABCDEFGH"), [0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05]
    reference = pd.Series(np.random.default_rng(0).choice(categories, 5000, p=shares))
    same = [pd.Series(np.random.default_rng(s).choice(categories, rows, p=shares)) for s in range(1, 201)]
    assert sum(bool(category_changes(reference, window, "agent")) for window in same) == 0

    moved = pd.Series(np.random.default_rng(7).choice(["A", "B", "Z"], rows, p=[0.5, 0.3, 0.2]))
    found = {(c.category, c.change) for c in category_changes(reference, moved, "agent")}
    assert ("Z", "appeared") in found  # a new value
    assert not {c for c, _ in found} & {"A", "B"}  # still there (more of them): nothing to report
    if rows >= 1_000:  # 15 % of the reference and none of the window's rows (at 30 rows chance does that 0.8 %)
        assert ("C", "vanished") in found
    verdict = check_drift(
        pd.DataFrame({"agent": reference}), pd.DataFrame({"agent": moved}), [], ["agent"], DriftSettings(min_rows=500)
    )
    assert {c.category for c in verdict.categories} == {c for c, _ in found}
    assert (verdict.severity == "insufficient_data") == (rows < 500)
