"""The canary's decision is a pure function of the evidence: rollback on a conclusive loss, errors or latency;
advance or promote on a conclusive non-inferiority, sized to detect the tolerated drop, after the bake; wait
otherwise, until the deadline. Shadow evidence is paired (the same records); a live stage after it checks health."""

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
            "entity_id": [f"e{seed}-{i}" for i in range(n)],
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
        SPEC.share(step),
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
    advanced = _decide(_arm(3000, 0.6, 1), _arm(3000, 0.6, 2))
    assert advanced.action == canary.ADVANCE and "independent delong, minimum detectable effect" in advanced.reason
    assert _decide(_arm(3000, 0.6, 1), _arm(3000, 0.6, 2), _state(step=1)).action == canary.PROMOTE


def test_a_sample_too_small_to_detect_the_drop_waits_whatever_its_interval():
    """250 rows per arm pass min_labelled_per_arm (200) but could not detect a 0.02 drop: no judgement yet."""
    decision = _decide(_arm(250, 0.6, 1), _arm(250, 0.6, 2))
    assert decision.action == canary.WAIT
    assert "large enough to detect a drop of 0.02" in decision.reason and "minimum detectable effect" in decision.reason


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
            "entity_id": [f"e{seed}-{i}" for i in range(n)],
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


# -- shadow: the same records scored by both, then a live stage for errors and latency ---------------------------

SHADOW_SPEC = SPEC.model_copy(update={"stages": ("shadow", 50.0), "min_live_records": 300})


def _paired(n: int, champion_auc: float, challenger_auc: float, seed: int, correlation: float = 0.8):
    """One sample of ``n`` records scored by two models of known ROC AUC (binormal: a class shift of
    sqrt(2) * z(AUC) in unit-variance noise), their noises correlated as two models of the same data are."""
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    noise = rng.normal(0, 1, n)
    other = correlation * noise + np.sqrt(1 - correlation**2) * rng.normal(0, 1, n)
    frames = []
    for auc, e, arm in ((champion_auc, noise, "champion"), (challenger_auc, other, "shadow")):
        shift = np.sqrt(2) * norm.ppf(auc)
        frames.append(
            pd.DataFrame(
                {
                    "request_id": [f"r{i // 10}" for i in range(n)],
                    "entity_id": [f"e{i}" for i in range(n)],
                    "score": label * shift + e,
                    "label": label.astype(float),
                    "latency_ms": 300.0 if arm == "shadow" else 10.0,  # a shadow's time is off the answer's path
                    "status": "ok",
                }
            )
        )
    return frames


def test_shadow_evidence_is_paired_and_advances_to_the_live_stage():
    champion, shadow = _paired(2000, 0.85, 0.86, seed=3)
    state = _state()
    evidence = canary.gather(SHADOW_SPEC, champion, shadow, state, METRICS["roc_auc"])
    assert (evidence.design, evidence.method, evidence.paired_records, evidence.stage) == (
        "paired",
        "delong",
        2000,
        "shadow",
    )
    decision = canary.decide(SHADOW_SPEC, state, evidence, NOW)
    assert decision.action == canary.ADVANCE, decision
    assert "p95 latency" not in decision.reason  # the shadow's 300 ms is not a latency regression


def test_after_shadow_a_live_stage_passes_on_healthy_answers_not_on_labels():
    live = _state(step=1)
    few = _decide(_arm(3000, 0.6, 1), _arm(100, 0.6, 2), live, spec=SHADOW_SPEC)
    assert few.action == canary.WAIT and "challenger 100 of 300" in few.reason
    unlabelled = _arm(400, 0.6, 2).assign(label=np.nan)  # answers whose outcomes are not known yet
    promoted = _decide(_arm(3000, 0.6, 1), unlabelled, live, spec=SHADOW_SPEC)
    assert promoted.action == canary.PROMOTE and "settled before this stage" in promoted.reason
    failing = _decide(_arm(3000, 0.6, 1), _arm(400, 0.6, 2, errors=40), live, spec=SHADOW_SPEC)
    assert failing.action == canary.ROLLBACK and "error rate" in failing.reason


def test_a_shadow_only_policy_promotes_on_the_paired_metric_and_rolls_back_a_raising_model():
    """`stages: [shadow]` (a model whose answers feed a plan, not a person waiting): the paired metric promotes;
    the shadow's error rows still count against it."""
    only_shadow = SPEC.model_copy(update={"stages": ("shadow",)})
    champion, shadow = _paired(2000, 0.85, 0.86, seed=3)
    evidence = canary.gather(only_shadow, champion, shadow, _state(), METRICS["roc_auc"])
    assert canary.decide(only_shadow, _state(), evidence, NOW).action == canary.PROMOTE
    raising = shadow.assign(status=["error" if i % 10 == 0 else "ok" for i in range(len(shadow))])
    evidence = canary.gather(only_shadow, champion, raising, _state(), METRICS["roc_auc"])
    decision = canary.decide(only_shadow, _state(), evidence, NOW)
    assert decision.action == canary.ROLLBACK and "error rate" in decision.reason, decision


def test_delong_agrees_with_a_paired_bootstrap():
    """The closed-form standard error of the paired AUC difference against 2,000 paired resamples."""
    from sklearn.metrics import roc_auc_score

    from flywheel.core import comparison

    champion, shadow = _paired(1500, 0.85, 0.84, seed=5)
    y, a, b = champion["label"].to_numpy(), champion["score"].to_numpy(), shadow["score"].to_numpy()
    delong = comparison.paired(METRICS["roc_auc"], y, a, b, 0.95, 100)
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(2000)]
    bootstrap_se = np.std([roc_auc_score(y[i], b[i]) - roc_auc_score(y[i], a[i]) for i in draws], ddof=1)
    assert delong.advantage == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a), abs=1e-12)
    assert delong.standard_error == pytest.approx(bootstrap_se, rel=0.1)
    assert delong.mde == pytest.approx((1.959964 + 0.841621) * delong.standard_error, rel=1e-4)


def test_a_challenger_truly_002_worse_is_never_promoted_on_a_small_sample():
    """The issue's small daily data set: ~30 labelled records a month. 50 seeded replays of a six-month shadow
    canary of a challenger whose true ROC AUC is 0.02 below the champion's, judged at every month's end on all the
    evidence so far, with the smallest minimum the configuration allows (10 per arm): never promoted, never even
    advanced; every replay ends in a rollback by its deadline. The interval alone (the rule before minimum
    detectable effects) would have passed some of these looks."""
    spec = SHADOW_SPEC.model_copy(update={"min_labelled_per_arm": 10, "deadline_hours": 5 * 30 * 24 + 1})
    start = NOW - timedelta(days=180)
    interval_alone_passed, outcomes = 0, []
    for seed in range(50):
        champion, shadow = _paired(6 * 30, 0.80, 0.78, seed=100 + seed)
        state = CanaryState("2", "running", 0, 0.0, start.isoformat(), start.isoformat(), "1", shadow=True)
        for month in range(1, 7):
            seen = slice(0, 30 * month)  # the labelled records known by this month's end
            evidence = canary.gather(spec, champion[seen], shadow[seen], state, METRICS["roc_auc"])
            decision = canary.decide(spec, state, evidence, start + timedelta(days=30 * month + 1))
            interval_alone_passed += bool(evidence.interval and evidence.interval[0] > -spec.max_metric_drop)
            assert decision.action in (canary.WAIT, canary.ROLLBACK), (seed, month, decision)
            if decision.action == canary.ROLLBACK:
                outcomes.append(decision.reason)
                break
    assert len(outcomes) == 50  # each replay ended, none is left open
    assert interval_alone_passed > 0  # the sizing rule, not luck, kept these out


def test_the_gate_s_paired_holdout_comparison_settles_the_shadow_stage_only_when_it_passes_the_same_rule():
    from flywheel.core import comparison

    def gate(records: int, advantage: float, se: float) -> comparison.Comparison:
        return comparison._sized("paired", "delong", records, advantage, se, 0.95)

    def settles(spec, evidence, served_is_evaluated=True):
        return canary.settled_by_gate(spec, "roc_auc", evidence, served_is_evaluated)

    settled, why = settles(SHADOW_SPEC, gate(4000, 0.01, 0.004))
    assert settled and "settles the shadow stage" in why and "minimum detectable effect 0.0112" in why
    too_noisy = settles(SHADOW_SPEC, gate(4000, 0.01, 0.01))
    assert not too_noisy[0] and "could not detect a drop of 0.02" in too_noisy[1]
    assert not settles(SHADOW_SPEC, gate(4000, -0.015, 0.004))[0]  # not conclusive
    assert not settles(SHADOW_SPEC, gate(150, 0.01, 0.004))[0]  # too few records
    assert not settles(SHADOW_SPEC, None)[0]
    assert not settles(SPEC, gate(4000, 0.01, 0.004))[0]  # no shadow stage to settle
    assert not settles(SHADOW_SPEC.model_copy(update={"count_gate_evidence": False}), gate(4000, 0.01, 0.004))[0]
    refitted = settles(SHADOW_SPEC, gate(4000, 0.01, 0.004), served_is_evaluated=False)
    assert not refitted[0] and "not the one refitted on the holdout to serve" in refitted[1]
