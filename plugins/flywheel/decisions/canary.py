"""The canary's judgement: evidence from live, label-joined predictions, and a decision that is a pure function of
the evidence, the canary's state, its policy and the time (passed in: no clock, no registry, no warehouse here).

The champion and challenger arms see different entities (routing by entity id), so the challenger's advantage on
the model's primary metric (challenger - champion for a score like ROC AUC, champion - challenger for an error like
MAE: positive is always better) is judged with a bootstrap interval that resamples each arm on its own: it is wide
while few labels have arrived and narrows as they do, so a decision waits for enough evidence instead of reacting
to noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd

from flywheel.core.canary import CanaryState
from flywheel.core.tasks import METRICS, Metric
from flywheel.specs import CanarySpec

Action = Literal["wait", "advance", "promote", "rollback"]
WAIT: Action = "wait"
ADVANCE: Action = "advance"
PROMOTE: Action = "promote"
ROLLBACK: Action = "rollback"


@dataclass(frozen=True)
class ArmEvidence:
    version: str
    records: int
    errors: int
    labelled: int
    metric: float | None
    p95_latency_ms: float | None
    requests: int = 0  # distinct requests the arm answered part of: what the latency percentile is taken over

    @property
    def error_rate(self) -> float:
        return self.errors / self.records if self.records else 0.0


@dataclass(frozen=True)
class Evidence:
    champion: ArmEvidence
    challenger: ArmEvidence
    metric: str  # the primary metric's name (flywheel.core.tasks.METRICS)
    difference: float | None  # the challenger's advantage on it (positive = better)
    interval: tuple[float, float] | None  # bootstrap interval of the advantage
    since: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class CanaryDecision:
    """What to do with a running canary at its current step, and why."""

    action: Action
    reason: str
    checks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"action": self.action, "reason": self.reason, "checks": list(self.checks)}


def arm_evidence(version: str, frame: pd.DataFrame, metric: Metric) -> ArmEvidence:
    ok = frame[frame["status"] == "ok"]
    labelled = ok.dropna(subset=["label"])
    per_request = ok.drop_duplicates("request_id")["latency_ms"]
    return ArmEvidence(
        version=version,
        records=len(frame),
        errors=int((frame["status"] != "ok").sum()),
        labelled=len(labelled),
        metric=metric.value(labelled["label"].to_numpy(), labelled["score"].to_numpy()),
        p95_latency_ms=float(np.percentile(per_request, 95)) if len(per_request) else None,
        requests=len(per_request),
    )


def bootstrap_interval(
    champion: pd.DataFrame, challenger: pd.DataFrame, spec: CanarySpec, metric: Metric, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile interval of the challenger's advantage on ``metric``, each arm resampled independently."""
    rng = np.random.default_rng(seed)
    arms = [(f["label"].to_numpy(), f["score"].to_numpy()) for f in (champion, challenger)]
    differences: list[float] = []
    for _ in range(spec.bootstrap_resamples):
        champion_value, challenger_value = (
            metric.value(labels[idx], scores[idx])
            for labels, scores in arms
            for idx in [rng.integers(0, len(labels), len(labels))]
        )
        if champion_value is not None and challenger_value is not None:
            differences.append(metric.advantage(challenger_value, champion_value))
    if len(differences) < spec.bootstrap_resamples // 2:
        return None
    alpha = (1 - spec.confidence) / 2
    return float(np.quantile(differences, alpha)), float(np.quantile(differences, 1 - alpha))


def gather(
    spec: CanarySpec, champion: pd.DataFrame, challenger: pd.DataFrame, state: CanaryState, metric: Metric
) -> Evidence:
    """Evidence from the two arms' predictions since the current step started, on the model's primary metric."""
    champ = arm_evidence(state.champion or "", champion, metric)
    chall = arm_evidence(state.version or "", challenger, metric)
    interval = None
    if min(champ.labelled, chall.labelled) >= spec.min_labelled_per_arm:
        interval = bootstrap_interval(
            champion.dropna(subset=["label"]).query("status == 'ok'"),
            challenger.dropna(subset=["label"]).query("status == 'ok'"),
            spec,
            metric,
        )
    difference = None if champ.metric is None or chall.metric is None else metric.advantage(chall.metric, champ.metric)
    return Evidence(champ, chall, metric.name, difference, interval, state.step_started_at)


def _advantage(evidence: Evidence) -> str:
    metric = METRICS[evidence.metric]
    sense = "challenger - champion" if metric.higher_is_better else "champion - challenger"
    return f"{metric.label} advantage ({sense})"


def _hours_since(iso: str | None, now: datetime) -> float:
    return (now - datetime.fromisoformat(iso)).total_seconds() / 3600 if iso else 0.0


def _failures(spec: CanarySpec, evidence: Evidence) -> list[str]:
    """Every check the challenger fails at this step (any one of them rolls it back)."""
    champ, chall, interval = evidence.champion, evidence.challenger, evidence.interval
    failures = []
    if interval is not None and interval[1] < -spec.max_metric_drop:
        failures.append(
            f"{_advantage(evidence)} {evidence.difference:+.4f}, {spec.confidence:.0%} interval "
            f"[{interval[0]:+.4f}, {interval[1]:+.4f}] lies below -{spec.max_metric_drop}"
        )
    if chall.error_rate - champ.error_rate > spec.max_error_rate_increase:
        failures.append(
            f"error rate {chall.error_rate:.2%} vs champion {champ.error_rate:.2%} "
            f"(allowed +{spec.max_error_rate_increase:.2%})"
        )
    if (
        min(champ.requests, chall.requests) >= spec.min_requests_for_latency
        and champ.p95_latency_ms
        and chall.p95_latency_ms
        and chall.p95_latency_ms > spec.max_p95_latency_ratio * champ.p95_latency_ms
        # A ratio of small numbers is noise on a busy host (12 ms vs 5 ms): only a slowdown users notice counts.
        and chall.p95_latency_ms - champ.p95_latency_ms > spec.min_p95_latency_increase_ms
    ):
        failures.append(
            f"p95 latency {chall.p95_latency_ms:.1f} ms vs champion {champ.p95_latency_ms:.1f} ms "
            f"(allowed x{spec.max_p95_latency_ratio})"
        )
    return failures


def decide(spec: CanarySpec, state: CanaryState, evidence: Evidence, now: datetime) -> CanaryDecision:
    """What to do with a running canary, given the evidence at its current step and the time (timezone-aware)."""
    champ, chall, interval = evidence.champion, evidence.challenger, evidence.interval
    checks = (
        f"errors {chall.error_rate:.2%} vs {champ.error_rate:.2%}; p95 latency "
        f"{chall.p95_latency_ms} vs {champ.p95_latency_ms} ms",
    )
    failures = _failures(spec, evidence)
    if failures:
        return CanaryDecision(ROLLBACK, "; ".join(failures), checks)
    baked = _hours_since(state.step_started_at, now) * 60 >= spec.min_bake_minutes
    if interval is not None and interval[0] > -spec.max_metric_drop and baked:
        last = state.step >= len(spec.steps) - 1
        return CanaryDecision(
            PROMOTE if last else ADVANCE,
            f"{_advantage(evidence)} {evidence.difference:+.4f}, {spec.confidence:.0%} interval "
            f"[{interval[0]:+.4f}, {interval[1]:+.4f}] above -{spec.max_metric_drop}",
            checks,
        )
    waiting_for = (
        f"labelled predictions: champion {champ.labelled}, challenger {chall.labelled} of {spec.min_labelled_per_arm}"
        if interval is None
        else "bake time"
        if not baked
        else "a conclusive interval"
    )
    if _hours_since(state.started_at, now) > spec.deadline_hours:
        return CanaryDecision(
            ROLLBACK, f"inconclusive after {spec.deadline_hours} h (waiting for {waiting_for})", checks
        )
    return CanaryDecision(WAIT, f"waiting for {waiting_for}", checks)
