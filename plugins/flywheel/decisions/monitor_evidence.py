"""What was measured on one monitored window (the evidence the judgement reads) and the figures
``ops.monitor_metrics`` keeps of it, for charts and for the replay's alert scorer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flywheel.core.packet import DriftImpact, EstimatedQuality, Quality
from flywheel.core.severity import SEVERITY_ORDER
from flywheel.decisions.impact import label_free_risk, quality_at_risk
from flywheel.monitoring.drift import ColumnDrift, DriftVerdict


@dataclass(frozen=True)
class WindowEvidence:
    """What was measured on one window for one champion."""

    model: str
    champion: str
    window: tuple[datetime, datetime]  # start inclusive, end exclusive (naive UTC)
    verdict: DriftVerdict
    target: ColumnDrift | None  # drift of the label, once labels exist
    quality: Quality | None
    reference_description: str
    labelled_rows: int
    logged_predictions: int  # of the window's rows, how many the service logged (the rest were re-scored)
    estimate: EstimatedQuality | None = None  # the primary metric from the scores alone (classifiers)
    impact: DriftImpact | None = None  # the drifted features' share of the model's importance

    @property
    def at_risk(self) -> str | None:
        """Why the model's quality is at risk (``flywheel.decisions.impact``), or None."""
        return quality_at_risk(self.quality, self.estimate, self.impact)


@dataclass(frozen=True)
class MetricRow:
    """One figure of the window, as ``ops.monitor_metrics`` charts it."""

    metric: str
    subject: str
    value: float
    threshold: float | None = None
    flagged: bool = False


def metric_rows(evidence: WindowEvidence) -> tuple[MetricRow, ...]:
    verdict = evidence.verdict
    rows = [MetricRow(f"drift.{c.method}", c.column, c.statistic, c.threshold, c.drifted) for c in verdict.columns]
    for name, result in (("prediction_drift", verdict.prediction), ("target_drift", evidence.target)):
        if result is not None:
            rows.append(MetricRow(name, result.column, result.statistic, result.threshold, result.drifted))
    if evidence.quality is not None:
        q = evidence.quality
        rows.append(MetricRow(f"quality.{q.metric}", "live", q.live, q.threshold, q.dropped))
    if evidence.estimate is not None:
        e = evidence.estimate
        rows.append(MetricRow(f"quality_estimate.{e.metric}", "cbpe", e.estimate, e.threshold, e.dropped))
    if evidence.impact is not None:
        i = evidence.impact
        rows.append(MetricRow("drift_importance_share", "features", i.importance_share, i.limit, i.at_risk))
    risk = label_free_risk(evidence.estimate, evidence.impact)
    rows.append(MetricRow("at_risk_before_labels", "estimate_or_drift", float(risk is not None), flagged=bool(risk)))
    severity = verdict.severity
    rows += [
        MetricRow("drifted_share", "features", verdict.drifted_share, flagged=severity == "critical"),
        MetricRow("severity", severity, SEVERITY_ORDER[severity], flagged=severity in ("warning", "critical")),
        MetricRow("rows", "current", verdict.current_rows),
        MetricRow("rows", "reference", verdict.reference_rows),
        MetricRow("rows", "labelled", evidence.labelled_rows),
        MetricRow("rows", "logged_predictions", evidence.logged_predictions),
    ]
    return tuple(rows)
