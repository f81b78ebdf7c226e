"""Were the replay's alerts worth waking someone for? A scorer of the monitor's windows against what the labels
showed afterwards.

Per window, from what the monitor recorded (``ops.monitor_metrics``, live): the alert's severity, whether the live
metric on labels fell beyond the monitoring file's limit (a drop), whether the evidence that needs no label (the
CBPE estimate, drift weighted by importance) marked the window at risk, and the estimate beside the realised figure.

- precision: of the critical windows, the share followed by a drop in the same or the next window;
- recall: of the drops, the share alerted as critical in the same or the previous window;
- recall_before_labels: of the drops, the share the label-free evidence flagged in the same or the previous window;
  precision_before_labels: of the windows it flagged, the share followed by a drop (what paging on it alone, with
  labels late, would have cost in false pages).
  The replay's labels arrive with the window's end (an outcome is known once its event time has passed, and the
  windows are cut by event time), so this counts what the monitor would have said with no label at all, as it can
  in production when the window closes before its outcomes are known;
- estimate_mae: mean absolute difference between the estimate and the realised metric, over windows with both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ScoredWindow:
    month: str
    critical: bool
    dropped: bool
    flagged_before_labels: bool
    estimate: float | None = None
    live: float | None = None


def score_alerts(windows: list[ScoredWindow]) -> dict[str, Any]:
    """The figures above for windows in time order (a share is None where its denominator is empty)."""
    n = len(windows)
    critical = [i for i, w in enumerate(windows) if w.critical]
    drops = [i for i, w in enumerate(windows) if w.dropped]

    def share(hits: int, total: int) -> float | None:
        return round(hits / total, 3) if total else None

    true_alerts = sum(windows[i].dropped or (i + 1 < n and windows[i + 1].dropped) for i in critical)
    alerted = sum(windows[j].critical or (j > 0 and windows[j - 1].critical) for j in drops)
    early = sum(windows[j].flagged_before_labels or (j > 0 and windows[j - 1].flagged_before_labels) for j in drops)
    flagged = [i for i, w in enumerate(windows) if w.flagged_before_labels]
    true_flags = sum(windows[i].dropped or (i + 1 < n and windows[i + 1].dropped) for i in flagged)
    errors = [abs(w.estimate - w.live) for w in windows if w.estimate is not None and w.live is not None]
    return {
        "windows": n,
        "critical": len(critical),
        "drops": len(drops),
        "precision": share(true_alerts, len(critical)),
        "recall": share(alerted, len(drops)),
        "recall_before_labels": share(early, len(drops)),
        "flagged_before_labels": len(flagged),
        "precision_before_labels": share(true_flags, len(flagged)),
        "estimate_mae": round(sum(errors) / len(errors), 4) if errors else None,
        "critical_months": [windows[i].month for i in critical],
        "drop_months": [windows[j].month for j in drops],
    }


def scored_windows(metrics: pd.DataFrame, metric: str, months: list[str]) -> list[ScoredWindow]:
    """The loop's months from ``ops.monitor_metrics`` rows (columns: window_start, metric, subject, value,
    flagged) of one model's live windows; a month the monitor did not judge is left out."""
    windows = []
    for month in months:
        rows = metrics[pd.to_datetime(metrics["window_start"]).dt.strftime("%Y-%m") == month]
        if rows.empty:
            continue

        def row(name: str, rows: pd.DataFrame = rows) -> pd.Series | None:
            found = rows[rows["metric"] == name]
            return None if found.empty else found.iloc[0]

        severity, live, estimate = row("alert_severity"), row(f"quality.{metric}"), row(f"quality_estimate.{metric}")
        early = row("at_risk_before_labels")
        windows.append(
            ScoredWindow(
                month=month,
                critical=severity is not None and severity["subject"] == "critical",
                dropped=live is not None and bool(live["flagged"]),
                flagged_before_labels=early is not None and bool(early["flagged"]),
                estimate=None if estimate is None else float(estimate["value"]),
                live=None if live is None else float(live["value"]),
            )
        )
    return windows
