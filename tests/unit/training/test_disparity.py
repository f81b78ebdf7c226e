"""The decision's disparity by segment: rates computed by hand, gaps to each column's best value, small values
left out, and the gate's check refusing a gap over ``gates.max_disparity``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel.registry.gate import _disparity_checks
from flywheel.specs import load_spec
from flywheel.training.disparity import decision_disparity


def _frame() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    # channel A: 400 rows, flags every positive and no negative; channel B: 400 rows, misses half its positives
    # and flags a quarter of its negatives; channel C: 20 rows (too few to judge).
    y = np.array([1] * 200 + [0] * 200 + [1] * 200 + [0] * 200 + [1, 0] * 10)
    flagged = np.array([1] * 200 + [0] * 200 + [1] * 100 + [0] * 100 + [1] * 50 + [0] * 150 + [0] * 20)
    channel = ["A"] * 400 + ["B"] * 400 + ["C"] * 20
    return pd.DataFrame({"channel": channel, "hotel": ["x", "y"] * 410}), y, flagged


def test_rates_and_gaps_per_value_against_the_best_of_its_column():
    frame, y, flagged = _frame()
    found = decision_disparity(frame, ("channel", "hotel"), y, flagged, min_rows=200)
    rows = found.table.set_index(["segment", "value"])
    assert rows.loc[("channel", "B"), "false_negative_rate"] == pytest.approx(0.5)
    assert rows.loc[("channel", "B"), "false_positive_rate"] == pytest.approx(0.25)
    assert rows.loc[("channel", "B"), "selection_rate"] == pytest.approx(150 / 400)
    assert rows.loc[("channel", "A"), "fnr_gap"] == 0 and rows.loc[("channel", "B"), "fnr_gap"] == pytest.approx(0.5)
    assert np.isnan(rows.loc[("channel", "C"), "fnr_gap"])  # 20 rows: shown, not judged
    assert found.largest_gap == pytest.approx(0.5)
    assert found.where.startswith("channel=B: false negative rate 0.500 against 0.000 (channel=A)")


def test_the_gate_refuses_a_gap_over_the_limit_and_names_it(project_dir):
    frame, y, flagged = _frame()
    spec = load_spec(project_dir / "models" / "hotel_cancellation.yaml")
    spec = spec.model_copy(update={"segments": ("channel",)})
    scores = flagged * 0.9 + 0.05  # flagged at the threshold 0.5
    gates = spec.gates.model_copy(update={"max_disparity": 0.3})
    refused = _disparity_checks(spec.model_copy(update={"gates": gates}), frame, y, scores, {"decision_threshold": 0.5})
    assert [(c.name, c.passed, c.value, c.limit) for c in refused] == [("disparity", False, 0.5, 0.3)]
    assert "channel=B: false negative rate 0.500" in refused[0].detail
    loose = spec.model_copy(update={"gates": gates.model_copy(update={"max_disparity": 0.6})})
    assert _disparity_checks(loose, frame, y, scores, {"decision_threshold": 0.5})[0].passed
    assert _disparity_checks(spec, frame, y, scores, {"decision_threshold": 0.5}) == []  # unset: not gated
