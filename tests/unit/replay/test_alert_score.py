"""The replay's alert scorer on hand-made windows: precision, recall, before labels, the estimate's error."""

from __future__ import annotations

import pandas as pd

from flywheel_replay.alert_score import ScoredWindow, score_alerts, scored_windows


def test_a_critical_window_counts_if_a_drop_follows_in_the_same_or_next_window():
    windows = [
        ScoredWindow("2017-01", critical=True, dropped=False, flagged_before_labels=True, estimate=0.85, live=0.86),
        ScoredWindow("2017-02", critical=False, dropped=True, flagged_before_labels=False, estimate=0.84, live=0.82),
        ScoredWindow("2017-03", critical=True, dropped=False, flagged_before_labels=False),  # a false alarm
        ScoredWindow("2017-04", critical=False, dropped=False, flagged_before_labels=False),
        ScoredWindow("2017-05", critical=False, dropped=True, flagged_before_labels=False),  # missed
    ]
    score = score_alerts(windows)
    assert (score["critical"], score["drops"]) == (2, 2)
    assert score["precision"] == 0.5 and score["recall"] == 0.5 and score["recall_before_labels"] == 0.5
    assert score["flagged_before_labels"] == 1 and score["precision_before_labels"] == 1.0
    assert score["estimate_mae"] == 0.015
    assert score_alerts([])["precision"] is None and score_alerts([])["estimate_mae"] is None


def test_windows_are_read_from_the_monitor_metrics():
    rows = pd.DataFrame(
        [
            ("2017-01-01", "alert_severity", "critical", 2.0, True),
            ("2017-01-01", "quality.roc_auc", "live", 0.84, True),
            ("2017-01-01", "quality_estimate.roc_auc", "cbpe", 0.85, True),
            ("2017-01-01", "at_risk_before_labels", "estimate_or_drift", 1.0, True),
            ("2017-02-01", "alert_severity", "warning", 1.0, False),
        ],
        columns=["window_start", "metric", "subject", "value", "flagged"],
    )
    windows = scored_windows(rows, "roc_auc", ["2017-01", "2017-02", "2017-03"])
    assert windows == [
        ScoredWindow("2017-01", True, True, True, 0.85, 0.84),
        ScoredWindow("2017-02", False, False, False, None, None),
    ]
