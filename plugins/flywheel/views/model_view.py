"""What the model view shows of one model, gathered from the registry, the ledger and the monitor's records."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.registry.history import RoutingPeriod, VersionService, deployment_history
from flywheel.workspace import Workspace

MONITOR_WINDOWS = 12  # the last windows in the table and the chart
CANARY_EVENTS = ("canary_started", "canary_advanced", "canary_wait", "approval_requested", "promoted", "rolled_back")


@dataclass(frozen=True)
class Window:
    start: str
    champion: str
    alert: str
    drift: str
    live: float | None
    estimate: float | None
    action: str
    reason: str
    report: str | None  # a local report's path under the reports folder, or its URI elsewhere (s3://)


@dataclass
class ModelView:
    name: str
    description: str
    metric: str  # the primary metric as people read it ("ROC AUC", "MAE")
    champion: str | None
    challenger: str | None
    higher_is_better: bool = True
    champion_metric: float | None = None
    challenger_metric: float | None = None
    canary: str = "no canary running"
    canary_evidence: str = ""
    awaiting_approval: bool = False
    windows: list[Window] = field(default_factory=list)
    periods: list[RoutingPeriod] = field(default_factory=list)
    services: list[VersionService] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "champion": self.champion,
            "challenger": self.challenger,
            "champion_metric": self.champion_metric,
            "challenger_metric": self.challenger_metric,
            "canary": self.canary,
            "canary_evidence": self.canary_evidence,
            "awaiting_approval": self.awaiting_approval,
            "windows": [w.__dict__ for w in self.windows],
            "versions": [s.to_dict() for s in self.services],
            "periods": [p.to_dict() for p in self.periods],
        }


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _holdout_metric(workspace: Workspace, name: str, version: str | None, metric: str) -> float | None:
    if version is None:
        return None
    return _number(workspace.registry.training_run(name, version).metrics.get(f"holdout_{metric}"))


def _report(uri: Any, reports_root: Path) -> str | None:
    if not uri or not isinstance(uri, str):
        return None
    path = Path(uri)
    return str(path.relative_to(reports_root)) if path.is_absolute() and path.is_relative_to(reports_root) else uri


def _windows(workspace: Workspace, name: str) -> list[Window]:
    import pandas as pd

    from flywheel.monitoring import history

    decisions = history.decisions(workspace.warehouse, name).tail(MONITOR_WINDOWS)
    figures = history.alert_figures(workspace.warehouse, name)
    root = Path(str(workspace.settings.reports_uri))
    windows = []
    for r in decisions.itertuples(index=False):
        end = pd.Timestamp(r.window_end)
        f = figures.loc[end] if end in figures.index else None
        windows.append(
            Window(
                start=str(r.window_start)[:10],
                champion=str(r.champion),
                alert="-" if f is None or pd.isna(f["alert"]) else str(f["alert"]),
                drift=str(r.severity),
                live=None if f is None else _number(f["live"]),
                estimate=None if f is None else _number(f["estimate"]),
                action=str(r.action),
                reason=str(r.reason),
                report=_report(r.report_uri, root),
            )
        )
    return windows


def _canary(view: ModelView, workspace: Workspace, name: str) -> None:
    from flywheel.registry import ledger

    spec, state = workspace.spec(name), workspace.registry.canary(name)
    if state.running:
        stage = spec.canary.stage_label(state.step)
        view.canary = f"v{state.version} at {stage} (stage {state.step + 1} of {len(spec.canary.stages)}) since "
        view.canary += f"{(state.step_started_at or '')[:16]}, against champion v{state.champion}"
    entries = [e for e in ledger.history(workspace.warehouse, name, limit=50) if e["event"] in CANARY_EVENTS]
    if entries:
        last = entries[0]
        view.canary_evidence = f"{last['event']} v{last['version']}: {last['reason']}"
        view.awaiting_approval = state.running and last["event"] == "approval_requested"
        evidence = json.loads(last["evidence"] or "{}").get("evidence") or {}
        if evidence.get("interval"):
            low, high = evidence["interval"]
            view.canary_evidence += f" (interval {low:+.4g} .. {high:+.4g})"


def model_view(workspace: Workspace, name: str) -> ModelView:
    from flywheel.core.tasks import primary_metric

    spec, registry = workspace.spec(name), workspace.registry
    metric = primary_metric(spec)
    champion, challenger = registry.champion(name), registry.challenger(name)
    view = ModelView(name, spec.description.strip(), metric.label, champion, challenger)
    view.higher_is_better = metric.higher_is_better
    view.champion_metric = _holdout_metric(workspace, name, champion, metric.name)
    view.challenger_metric = _holdout_metric(workspace, name, challenger, metric.name)
    _canary(view, workspace, name)
    view.windows = _windows(workspace, name)
    view.periods, view.services = deployment_history(workspace.warehouse, name)
    return view
