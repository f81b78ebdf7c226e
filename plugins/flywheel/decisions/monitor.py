"""The monitor's judgement of one window: a pure function of what was measured and what happened before.

``flywheel.jobs.monitor`` gathers the inputs (the drift verdict, the quality on labelled rows, the history of
judged windows, the canary, the dbt lineage of the drifted columns) and writes what this module returns: the
figures to chart, the decision to record, the retrain policy's action and the alert packet. Nothing here reads a
model, a registry, a store or a warehouse, so every branch is unit-tested on hand-made inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from flywheel.core.packet import (
    AlertPacket,
    CanarySummary,
    ChangedCategory,
    DriftedFeature,
    PredictionDrift,
    Quality,
    ReportLinks,
    RetrainSummary,
    TargetDrift,
    UpstreamNode,
    Window,
)
from flywheel.core.severity import SEVERITY_ORDER
from flywheel.core.tasks import Metric
from flywheel.decisions import retrain
from flywheel.decisions.alert_text import unmonitored_steps, what_to_do
from flywheel.decisions.monitor_evidence import MetricRow, WindowEvidence, metric_rows
from flywheel.specs import MonitorSpec, QualityPolicySpec

Mode = Literal["live", "what_if"]
LIVE: Mode = "live"
WHAT_IF: Mode = "what_if"


def quality(
    metric: Metric, labels: Any, scores: Any, champion_holdout: float | None, policy: QualityPolicySpec
) -> Quality | None:
    """The primary metric on a window's labelled rows (``labels`` and the ``scores`` served or re-scored for them),
    against the champion's holdout figure; None with too few labelled rows or no figure to compare with."""
    live = metric.value(labels, scores)
    if len(labels) < policy.min_labelled_rows or live is None or champion_holdout is None:
        return None
    return Quality(
        metric=metric.name,
        live=round(live, 4),
        champion_holdout=round(champion_holdout, 4),
        change=round(metric.advantage(live, champion_holdout), 4),
        limit=-policy.max_drop,
        threshold=round(metric.bound(champion_holdout, policy.max_drop), 4),
        labelled_rows=len(labels),
    )


@dataclass(frozen=True)
class PastWindow:
    """A window judged before, as the ``since`` of an alert needs it (live history, newest first)."""

    start: datetime
    severity: str  # the drift verdict's
    alert: str | None = None  # the alert's severity (by impact); None for a window judged before it was recorded


@dataclass(frozen=True)
class Context:
    """What happened before and around this window."""

    history: Sequence[retrain.WindowRecord]  # windows judged before this one in the same mode, oldest first
    requests: Sequence[retrain.RetrainRequest]  # retrain requests among them, oldest first
    past_live: Sequence[PastWindow]  # live windows before this one, newest first
    canary: CanarySummary
    canary_running: bool
    new_labelled_rows: int  # labelled rows newer than the champion's training data
    upstream_dbt: dict[str, list[UpstreamNode]]  # dbt lineage of each drifted column
    report: ReportLinks
    runbook: str  # the runbook's link (docs base URL applied)


@dataclass(frozen=True)
class Judgement:
    decision: retrain.RetrainDecision
    packet: AlertPacket
    metrics: tuple[MetricRow, ...]

    @property
    def alerting(self) -> bool:
        """Whether on-call hears of this window: a page, or drift at warning or worse."""
        return self.decision.action == "page" or self.packet.severity in ("warning", "critical")


def since(severity: str, window: tuple[datetime, datetime], past_live: Sequence[PastWindow]) -> datetime:
    """The start of the unbroken run of windows whose alert was at this severity or worse, ending with this one."""
    start = window[0]
    for past in past_live:
        if SEVERITY_ORDER.get(past.alert or past.severity, -1) < SEVERITY_ORDER[severity]:
            break
        start = past.start
    return start


def unmonitored_windows(evidence: WindowEvidence, past_live: Sequence[PastWindow]) -> int:
    """How many windows in a row, ending with this one, got no drift verdict (too few rows): 0 if this one got one."""
    if evidence.verdict.severity != "insufficient_data":
        return 0
    count = 1
    for past in past_live:
        if past.severity != "insufficient_data":
            break
        count += 1
    return count


def impact_severity(
    evidence: WindowEvidence, decision: retrain.RetrainDecision, unmonitored: int = 0, alert_from: int = 0
) -> str:
    """The packet's severity, by impact: critical (pages) only when the model's quality is at risk (measured below
    its limit on labels; before labels, estimated below it or drift in features carrying a large share of the
    model's importance: ``WindowEvidence.at_risk``) or a person is paged; a warning when the model has gone
    ``alert_from`` windows in a row without a drift verdict (unmonitored) or when inputs drifted without putting
    quality at risk; otherwise the drift verdict's (none, insufficient data)."""
    if decision.action == "page" or evidence.at_risk is not None:
        return "critical"
    if alert_from and unmonitored >= alert_from:
        return "warning"
    if evidence.verdict.severity == "insufficient_data" and evidence.verdict.categories:
        return "warning"  # too small for a verdict, yet a category came, went or collapsed beyond chance
    return "warning" if evidence.verdict.severity == "critical" else evidence.verdict.severity


def decide_retrain(evidence: WindowEvidence, context: Context, monitor: MonitorSpec) -> retrain.RetrainDecision:
    """The retrain policy on this window appended to the history."""
    now = retrain.WindowRecord(
        evidence.window[1],
        evidence.champion,
        evidence.verdict.severity,
        tuple(c.column for c in evidence.verdict.drifted),
        None if evidence.quality is None else evidence.quality.drop,
    )
    decision = retrain.decide(
        monitor.retrain,
        monitor.quality.max_drop,
        [*context.history, now],
        list(context.requests),
        context.canary_running,
        context.new_labelled_rows,
    )
    if decision.action == "page" and evidence.at_risk is None:
        # The drift outlived a retrain, yet the model answers as well as its holdout promised: a person has
        # nothing to fix tonight. Reported (packet, report), not paged; the policy does not retrain on it again.
        persisted = decision.reason.split(":")[0]
        return retrain.RetrainDecision("none", f"{persisted}, but quality is not at risk: not paged")
    return decision


def build_packet(
    evidence: WindowEvidence, context: Context, decision: retrain.RetrainDecision, monitor: MonitorSpec
) -> AlertPacket:
    """Everything on-call needs, in one document (docs/runbooks/drift.md explains each field)."""
    verdict, window = evidence.verdict, evidence.window
    unmonitored = unmonitored_windows(evidence, context.past_live)
    severity = impact_severity(evidence, decision, unmonitored, monitor.alerts.unmonitored_after_windows)
    steps = what_to_do(severity, decision.action, context.runbook, evidence.quality, evidence.at_risk, evidence.impact)
    started = since(severity, window, context.past_live)
    if severity == "warning" and verdict.severity == "insufficient_data":  # unmonitored, or categories changed
        steps = unmonitored_steps(
            unmonitored, evidence.model, verdict.current_rows, monitor.drift.min_rows, context.runbook
        )
        started = context.past_live[unmonitored - 2].start if unmonitored > 1 else window[0]
    changed = [ChangedCategory(**asdict(c)) for c in verdict.categories]
    if changed and severity == "warning" and verdict.severity == "insufficient_data":
        steps = [*(c.describe() for c in changed[:3]), *steps]
    prediction = verdict.prediction
    return AlertPacket(
        model=evidence.model,
        version=evidence.champion,
        action="page" if decision.action == "page" else "alert",
        severity=severity,
        window=Window(start=window[0].isoformat(), end=window[1].isoformat()),
        since=started.isoformat(),
        verdict=verdict.reason,
        reference=evidence.reference_description,
        current_rows=verdict.current_rows,
        reference_rows=verdict.reference_rows,
        drifted_features=[
            DriftedFeature(
                column=c.column,
                kind=c.kind,
                method=c.method,
                statistic=c.statistic,
                threshold=c.threshold,
                direction=c.direction,
            )
            for c in verdict.drifted
        ],
        judged_features=len(verdict.columns),
        prediction_drift=None
        if prediction is None
        else PredictionDrift(
            statistic=prediction.statistic,
            threshold=prediction.threshold,
            drifted=prediction.drifted,
            direction=prediction.direction,
            logged=evidence.logged_predictions,
            rescored=verdict.current_rows - evidence.logged_predictions,
        ),
        target_drift=None
        if evidence.target is None
        else TargetDrift(
            statistic=evidence.target.statistic,
            threshold=evidence.target.threshold,
            drifted=evidence.target.drifted,
            direction=evidence.target.direction,
        ),
        quality=evidence.quality,
        upstream_dbt=context.upstream_dbt,
        canary=context.canary,
        retrain=RetrainSummary(action=decision.action, reason=decision.reason, trigger=decision.trigger),
        report=context.report,
        runbook=context.runbook,
        what_to_do=steps,
        category_changes=changed,
        unmonitored_windows=unmonitored,
        quality_estimate=evidence.estimate,
        drift_impact=evidence.impact,
    )


def judge(evidence: WindowEvidence, context: Context, monitor: MonitorSpec) -> Judgement:
    """The window's figures (with the alert's severity, which the replay's scorer reads), the retrain policy's
    action and the alert packet."""
    decision = decide_retrain(evidence, context, monitor)
    packet = build_packet(evidence, context, decision, monitor)
    critical = packet.severity == "critical"
    severity = MetricRow("alert_severity", packet.severity, SEVERITY_ORDER[packet.severity], flagged=critical)
    return Judgement(decision, packet, (*metric_rows(evidence), severity))
