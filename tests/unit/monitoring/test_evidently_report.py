"""The Evidently reports render for both tasks: drift (and target drift once the window is labelled) against the
reference rows, and quality against the champion's out-of-sample holdout, never against its own training rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flywheel.monitoring.drift import DriftSettings, check_drift
from flywheel.monitoring.evidently_report import PREDICTION, render


def _window(n: int, shift: float, task: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"temperature": rng.normal(shift, 1, n), "weather": rng.choice(["clear", "mist"], n)})
    if task == "regression":
        frame["label"] = rng.poisson(100, n).astype(float)
        frame[PREDICTION] = frame["label"] + rng.normal(0, 5, n)
    else:
        frame["label"] = rng.integers(0, 2, n).astype(float)
        frame[PREDICTION] = np.clip(frame["label"] * 0.6 + rng.random(n) * 0.4, 0, 1)
    return frame


@pytest.mark.parametrize(("task", "quality_metric"), [("regression", "MAE"), ("binary_classification", "RocAuc")])
def test_a_labelled_window_renders_drift_target_drift_and_quality_against_the_holdout(task, quality_metric):
    reference, current, holdout = _window(2000, 0.0, task, 1), _window(800, 0.5, task, 2), _window(600, 0.0, task, 3)
    verdict = check_drift(
        reference, current, ["temperature"], ["weather"], DriftSettings(500, 0.1, 0.99, 50), PREDICTION
    )
    report = render(reference, current, verdict, ["temperature"], ["weather"], "label", task, holdout)
    assert b"<!DOCTYPE html>" in report.html[:200] and len(report.html) > 10_000
    text = json.dumps(json.loads(report.json))
    assert "ValueDrift" in text and "temperature" in text and "label" in text  # feature and target drift
    assert quality_metric not in text  # quality is not judged against the rows the champion was fitted on
    assert report.quality_html is not None and b"<!DOCTYPE html>" in report.quality_html[:200]
    assert report.quality_json is not None and quality_metric in report.quality_json.decode()
    assert "temperature" not in report.quality_json.decode()  # the quality report reads labels and scores only

    without_holdout = render(reference, current, verdict, ["temperature"], ["weather"], "label", task)
    assert without_holdout.quality_html is None  # a version without out-of-sample scores gets no quality report
