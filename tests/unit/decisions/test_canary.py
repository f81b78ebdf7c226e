"""The canary's decision is a pure function of the evidence: rollback on a conclusive loss, errors or latency;
advance or promote on a conclusive non-inferiority after the bake; wait otherwise, until the deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from flywheel.core.canary import CanaryState
from flywheel.core.tasks import METRICS
from flywheel.decisions import canary
from flywheel.specs import CanarySpec

SPEC = CanarySpec(
    steps=(10, 50),
    min_labelled_per_arm=200,
    min_bake_minutes=60,
    deadline_hours=48,
    max_metric_drop=0.02,
    bootstrap_resamples=300,
)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _arm(n: int, quality: float, seed: int, errors: int = 0, latency: float = 10.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    score = np.clip(label * quality + rng.normal(0.5 - quality / 2, 0.25, n), 0, 1)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "score": score,
            "label": label.astype(float),
            "latency_ms": latency,
            "status": ["error"] * errors + ["ok"] * (n - errors),
        }
    )


def _state(step: int = 0, started_hours_ago: float = 2, step_hours_ago: float = 2) -> CanaryState:
    return CanaryState(
        "2",
        "running",
        step,
        SPEC.steps[step] / 100,
        (NOW - timedelta(hours=started_hours_ago)).isoformat(),
        (NOW - timedelta(hours=step_hours_ago)).isoformat(),
        "1",
    )


def _decide(champion, challenger, state=None, spec=SPEC, metric="roc_auc"):
    state = state or _state()
    return canary.decide(spec, state, canary.gather(spec, champion, challenger, state, METRICS[metric]), NOW)


def test_a_clearly_worse_challenger_is_rolled_back():
    decision = _decide(_arm(2000, 0.6, 1), _arm(400, 0.05, 2))
    assert decision.action == canary.ROLLBACK and "below" in decision.reason


def test_an_equal_challenger_advances_then_promotes():
    assert _decide(_arm(3000, 0.6, 1), _arm(1000, 0.6, 2)).action == canary.ADVANCE
    assert _decide(_arm(3000, 0.6, 1), _arm(3000, 0.6, 2), _state(step=1)).action == canary.PROMOTE


def test_too_few_labels_waits_and_says_for_what():
    decision = _decide(_arm(3000, 0.6, 1), _arm(50, 0.6, 2))
    assert decision.action == canary.WAIT and "challenger 50 of 200" in decision.reason


def test_no_step_passes_before_its_bake_time():
    decision = _decide(_arm(3000, 0.6, 1), _arm(1000, 0.6, 2), _state(step_hours_ago=0.5))
    assert decision.action == canary.WAIT and "bake" in decision.reason


def test_inconclusive_past_the_deadline_rolls_back():
    decision = _decide(_arm(3000, 0.6, 1), _arm(50, 0.6, 2), _state(started_hours_ago=49))
    assert decision.action == canary.ROLLBACK and "inconclusive" in decision.reason


@pytest.mark.parametrize(("errors", "latency", "words"), [(40, 10.0, "error rate"), (0, 300.0, "p95 latency")])
def test_errors_or_latency_roll_back(errors, latency, words):
    decision = _decide(_arm(3000, 0.6, 1), _arm(1000, 0.6, 2, errors=errors, latency=latency))
    assert decision.action == canary.ROLLBACK and words in decision.reason


def test_a_small_latency_ratio_on_a_busy_host_is_not_a_regression():
    """8x of 10 ms is 70 ms more: below min_p95_latency_increase_ms (100 ms), not a regression worth a rollback."""
    decision = _decide(_arm(3000, 0.6, 1), _arm(1000, 0.6, 2, latency=80.0))
    assert "p95 latency" not in decision.reason


# -- a regression canary: the metric is an error (MAE), lower is better ------------------------------------------

MAE_SPEC = SPEC.model_copy(update={"max_metric_drop": 5.0})


def _regression_arm(n: int, noise: float, seed: int, bias: float = 0.0) -> pd.DataFrame:
    """Counts around 200 predicted with absolute errors of about ``noise`` (and a constant ``bias``)."""
    rng = np.random.default_rng(seed)
    label = rng.poisson(200, n).astype(float)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "score": label + bias + rng.normal(0, noise, n),
            "label": label,
            "latency_ms": 10.0,
            "status": "ok",
        }
    )


def test_a_regression_challenger_with_a_larger_error_is_rolled_back():
    decision = _decide(_regression_arm(2000, 20, 1), _regression_arm(400, 20, 2, bias=30), spec=MAE_SPEC, metric="mae")
    assert decision.action == canary.ROLLBACK
    assert "MAE advantage (champion - challenger)" in decision.reason and "below -5.0" in decision.reason


def test_a_regression_challenger_with_a_smaller_error_advances():
    decision = _decide(_regression_arm(2000, 40, 1), _regression_arm(400, 15, 2), spec=MAE_SPEC, metric="mae")
    assert decision.action == canary.ADVANCE and "above -5.0" in decision.reason


def test_the_advantage_points_the_metric_s_way():
    evidence = canary.gather(
        MAE_SPEC, _regression_arm(2000, 40, 1), _regression_arm(400, 15, 2), _state(), METRICS["mae"]
    )
    assert evidence.metric == "mae"
    assert evidence.challenger.metric < evidence.champion.metric  # a smaller error ...
    assert evidence.difference > 0  # ... is an advantage
