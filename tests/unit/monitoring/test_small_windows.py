"""Small windows are judged, not skipped: 30 rows get a verdict against the noise of their own size, a category
that vanished is flagged at that size, and calm 30-row windows are rarely critical. (A model whose windows stay
below ``drift.min_rows`` raises ``unmonitored``: tests/unit/decisions/test_monitor.py.)"""

from __future__ import annotations

import pandas as pd
import pytest

from flywheel.monitoring.drift import DriftSettings, check_drift
from flywheel.specs import MonitorSpec
from tests.unit.monitoring.test_drift import CATEGORICAL, NUMERIC, _reference

SMALL = DriftSettings(min_rows=30)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _reference(20_000, seed=3)


def test_a_30_row_window_is_judged_and_a_vanished_category_is_flagged(reference: pd.DataFrame) -> None:
    current = reference[reference["c_small"] != "a"].sample(30, random_state=0)  # 'a' held 40 % of the rows
    verdict = check_drift(reference, current, NUMERIC, CATEGORICAL, SMALL)
    assert verdict.severity != "insufficient_data" and verdict.current_rows == 30 and len(verdict.columns) == 12
    gone = [(c.column, c.category, c.change) for c in verdict.categories]
    assert ("c_small", "a", "vanished") in gone
    assert check_drift(reference, current, NUMERIC, CATEGORICAL, DriftSettings()).severity == "insufficient_data"


def test_calm_30_row_windows_are_rarely_critical(reference: pd.DataFrame) -> None:
    severities = [
        check_drift(reference, reference.sample(30, random_state=k), NUMERIC, CATEGORICAL, SMALL).severity
        for k in range(100)
    ]
    counts = pd.Series(severities).value_counts()
    print(f"30 rows, 100 resamples: {counts.to_dict()}")
    assert counts.get("critical", 0) <= 5 and counts.get("insufficient_data", 0) == 0


BASE = {
    "name": "small_model",
    "quality": {"max_drop": 0.05},
    "retrain": {"cooldown_days": 30, "max_retrains": 4, "budget_period_days": 365, "min_new_labelled_rows": 0},
    "alerts": {"quiet_period_hours": 24, "routes": [{"kind": "log"}]},
}


@pytest.mark.parametrize(
    ("window", "schedule"), [("day", "0 0 * * *"), ("week", "0 0 * * 1"), ("month", "0 0 1 * *"), (None, "0 0 1 * *")]
)
def test_the_schedule_follows_the_window(window, schedule) -> None:
    assert MonitorSpec.model_validate({**BASE, "window": window}).schedule == schedule


def test_a_window_of_rows_closes_on_its_rows_or_its_days_and_contradictions_are_refused() -> None:
    from datetime import datetime

    spec = MonitorSpec.model_validate({**BASE, "window": {"rows": 30, "max_days": 14}})
    assert spec.schedule == "0 0 * * *" and spec.rows_window is not None
    opened = datetime(2024, 3, 1)
    assert not spec.rows_window.closes(29, opened, datetime(2024, 3, 10))
    assert spec.rows_window.closes(30, opened, datetime(2024, 3, 2))
    assert spec.rows_window.closes(3, opened, datetime(2024, 3, 15))  # two weeks: judged with what there is
    with pytest.raises(ValueError, match=r"monitoring/small_model.yaml: schedule '0 0 1 \* \*' contradicts window"):
        MonitorSpec.model_validate({**BASE, "window": "week", "schedule": "0 0 1 * *"})
