"""The canary's judgement: evidence from live, label-joined predictions, and a decision that is a pure function of
the evidence, the canary's state, its policy and the time (passed in: no clock, no registry, no warehouse here).

A canary walks its policy's stages (``stages: [shadow, 50]``, or live shares only, ``[10, 50]``):

- **shadow**: the challenger scores every record beside the champion and answers none. Both arms scored the same
  records, so the challenger's advantage on the primary metric (challenger - champion for a score like ROC AUC,
  champion - challenger for an error like MAE: positive is always better) is a paired comparison.
- **live share**: the challenger answers a share of entities (routing by entity id). If a shadow stage already
  settled the metric, a live stage checks what only real answers show (errors, latency) once each arm has answered
  ``min_requests_for_latency`` requests; otherwise it judges the metric too, on independent arms.

The metric is judged only once the evidence could detect the drop the policy tolerates (its minimum detectable
effect, ``flywheel.core.comparison``): an interval from a handful of rows promotes nothing, whatever the
configuration says. A stage that cannot get there by the deadline ends inconclusive, and the safe default applies
(rollback). Every time here is the time of the data being judged (``now``), never the wall clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd

from flywheel.core import comparison
from flywheel.core.canary import CanaryState
from flywheel.core.tasks import METRICS, Metric
from flywheel.specs import SHADOW, CanarySpec

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
    interval: tuple[float, float] | None  # its interval at the policy's confidence, once the arms are large enough
    since: str | None
    stage: str = ""  # "shadow" or the live share, "10 %"
    design: str | None = None  # "paired" (shadow: the same records) or "independent" (live shares)
    method: str | None = None  # "delong" (ROC AUC) or "bootstrap"
    mde: float | None = None  # the smallest advantage this evidence detects (comparison.POWER), metric units
    paired_records: int = 0  # records both arms scored (shadow)

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


def _ok_labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["status"] == "ok")].dropna(subset=["label"])


def _compare(
    spec: CanarySpec, champion: pd.DataFrame, challenger: pd.DataFrame, metric: Metric, shadow: bool
) -> tuple[comparison.Comparison | None, int]:
    """Paired on the records both scored (shadow), else independent arms; None until both arms have enough."""
    champ, chall = _ok_labelled(champion), _ok_labelled(challenger)
    if shadow:
        both = champ.merge(chall, on=["request_id", "entity_id"], suffixes=("_champion", "_challenger"))
        # By entity first: the bootstrap resamples by position, and request ids are random per run (sorted by them, a
        # replay's bike canary waited a week in one run and not in the next on the same records).
        both = both.sort_values(["entity_id", "request_id"])
        if len(both) < spec.min_labelled_per_arm:
            return None, len(both)
        return comparison.paired(
            metric,
            both["label_champion"].to_numpy(),
            both["score_champion"].to_numpy(),
            both["score_challenger"].to_numpy(),
            spec.confidence,
            spec.bootstrap_resamples,
        ), len(both)
    if min(len(champ), len(chall)) < spec.min_labelled_per_arm:
        return None, 0
    champ, chall = (f.sort_values(["entity_id", "request_id"]) for f in (champ, chall))
    return comparison.independent(
        metric,
        (champ["label"].to_numpy(), champ["score"].to_numpy()),
        (chall["label"].to_numpy(), chall["score"].to_numpy()),
        spec.confidence,
        spec.bootstrap_resamples,
    ), 0


def gather(
    spec: CanarySpec, champion: pd.DataFrame, challenger: pd.DataFrame, state: CanaryState, metric: Metric
) -> Evidence:
    """Evidence from the two arms' predictions at the current stage, on the model's primary metric."""
    shadow = spec.is_shadow(state.step)
    champ = arm_evidence(state.champion or "", champion, metric)
    chall = arm_evidence(state.version or "", challenger, metric)
    compared, paired_records = _compare(spec, champion, challenger, metric, shadow)
    difference = None if champ.metric is None or chall.metric is None else metric.advantage(chall.metric, champ.metric)
    return Evidence(
        champ,
        chall,
        metric.name,
        compared.advantage if compared else difference,
        compared.interval if compared else None,
        state.logged_from or state.step_started_at,
        spec.stage_label(state.step),
        compared.design if compared else None,
        compared.method if compared else None,
        compared.mde if compared else None,
        paired_records,
    )


def _advantage(evidence: Evidence) -> str:
    metric = METRICS[evidence.metric]
    sense = "challenger - champion" if metric.higher_is_better else "champion - challenger"
    return f"{metric.label} advantage ({sense})"


def _hours_since(iso: str | None, now: datetime) -> float:
    """Hours from a recorded time to ``now``; both read as UTC (a naive time is UTC)."""
    if not iso:
        return 0.0
    then, now = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (datetime.fromisoformat(iso), now))
    return (now - then).total_seconds() / 3600


def _failures(spec: CanarySpec, evidence: Evidence, live: bool) -> list[str]:
    """Every check the challenger fails at this stage (any one of them rolls it back). A conclusive loss needs no
    minimum detectable effect: stopping early on clear harm is always safe."""
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
        live  # a shadow model's time is spent off the answer's path: only live answers show the users' latency
        and min(champ.requests, chall.requests) >= spec.min_requests_for_latency
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


def _metric_verdict(spec: CanarySpec, evidence: Evidence) -> tuple[bool, str]:
    """(passed, why): the metric passes once the evidence can detect the tolerated drop and rules it out."""
    champ, chall, interval, mde = evidence.champion, evidence.challenger, evidence.interval, evidence.mde
    if interval is None or mde is None:
        counts = (
            f"records both arms scored: {evidence.paired_records}"
            if evidence.design == "paired" or evidence.stage == SHADOW
            else f"champion {champ.labelled}, challenger {chall.labelled}"
        )
        return False, f"labelled predictions ({counts} of {spec.min_labelled_per_arm})"
    sized = (
        f"{evidence.design} {evidence.method}, minimum detectable effect {mde:.4f} "
        f"(at {spec.confidence:.0%} confidence, {comparison.POWER:.0%} power)"
    )
    if mde > spec.max_metric_drop:
        return False, f"evidence large enough to detect a drop of {spec.max_metric_drop}: {sized}"
    if interval[0] <= -spec.max_metric_drop:
        return (
            False,
            f"a conclusive interval ({_advantage(evidence)} [{interval[0]:+.4f}, {interval[1]:+.4f}]; {sized})",
        )
    return True, (
        f"{_advantage(evidence)} {evidence.difference:+.4f}, {spec.confidence:.0%} interval "
        f"[{interval[0]:+.4f}, {interval[1]:+.4f}] above -{spec.max_metric_drop}; {sized}"
    )


def settled_by_gate(
    spec: CanarySpec, metric: str, gate: comparison.Comparison | None, served_is_evaluated: bool
) -> tuple[bool, str]:
    """(settled, why): does the gate's paired comparison (the challenger as evaluated against the champion, on
    holdout rows the champion was not fitted on) already show what a shadow stage would? Only if the model that
    would serve is the one the gate compared (``split.final_fit: train``): a model refitted on the holdout after
    the gate has no labelled rows left that it has not seen, and the evaluated one, fitted on the months the
    champion was fitted on, says nothing about what the newest months changed. Then the same rule as in shadow:
    enough records, evidence that could detect the tolerated drop, an interval above it."""
    if not (spec.has_shadow and spec.count_gate_evidence):
        return False, "the policy does not count the gate's evidence"
    if not served_is_evaluated:
        return False, "the gate compared the model as evaluated, not the one refitted on the holdout to serve"
    if gate is None:
        return False, "the gate had no paired comparison on rows the champion was not fitted on"
    label = f"{METRICS[metric].label} advantage"
    bounds = f"[{gate.interval[0]:+.4f}, {gate.interval[1]:+.4f}]"
    sized = f"{gate.records} holdout records, {gate.design} {gate.method}, minimum detectable effect {gate.mde:.4f}"
    if gate.records < spec.min_labelled_per_arm:
        return False, f"the gate compared {gate.records} records (of {spec.min_labelled_per_arm})"
    if gate.mde > spec.max_metric_drop:
        return False, f"the gate's evidence could not detect a drop of {spec.max_metric_drop} ({sized})"
    if gate.interval[0] <= -spec.max_metric_drop:
        return False, f"the gate's interval is not conclusive ({label} {bounds}; {sized})"
    return True, (
        f"the gate's paired holdout comparison settles the shadow stage: {label} {gate.advantage:+.4f}, "
        f"{spec.confidence:.0%} interval {bounds} above -{spec.max_metric_drop}; {sized}"
    )


def _health_verdict(spec: CanarySpec, evidence: Evidence) -> tuple[bool, str]:
    """A live stage after a shadow stage: the metric is settled, real answers must show no harm."""
    champ, chall = evidence.champion, evidence.challenger
    if min(champ.records, chall.records) < spec.min_live_records:
        return False, (
            f"live answers for errors and latency: records champion {champ.records}, challenger {chall.records} "
            f"of {spec.min_live_records}"
        )
    return True, (
        f"live answers as healthy as the champion's on {chall.records} records (errors {chall.error_rate:.2%} vs "
        f"{champ.error_rate:.2%}, p95 {chall.p95_latency_ms} vs {champ.p95_latency_ms} ms); the metric was settled "
        "before this stage (in shadow, or by the gate's paired evidence)"
    )


def decide(spec: CanarySpec, state: CanaryState, evidence: Evidence, now: datetime) -> CanaryDecision:
    """What to do with a running canary, given the evidence at its current stage and the time of the data judged
    (timezone-aware or naive UTC, like the state's times)."""
    champ, chall = evidence.champion, evidence.challenger
    live = not spec.is_shadow(state.step)
    checks = (
        f"errors {chall.error_rate:.2%} vs {champ.error_rate:.2%}; p95 latency "
        f"{chall.p95_latency_ms} vs {champ.p95_latency_ms} ms",
    )
    failures = _failures(spec, evidence, live)
    if failures:
        return CanaryDecision(ROLLBACK, "; ".join(failures), checks)
    settled_in_shadow = live and spec.has_shadow and state.step > 0
    passed, why = (_health_verdict if settled_in_shadow else _metric_verdict)(spec, evidence)
    baked = _hours_since(state.step_started_at, now) * 60 >= spec.min_bake_minutes
    if passed and baked:
        return CanaryDecision(PROMOTE if state.step >= len(spec.stages) - 1 else ADVANCE, why, checks)
    waiting_for = why if not passed else f"bake time ({spec.min_bake_minutes:g} min of data)"
    if _hours_since(state.started_at, now) > spec.deadline_hours:
        return CanaryDecision(
            ROLLBACK, f"inconclusive after {spec.deadline_hours:g} h (waiting for {waiting_for})", checks
        )
    return CanaryDecision(WAIT, f"waiting for {waiting_for}", checks)
