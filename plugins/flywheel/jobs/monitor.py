"""The monitor of one model for one window: gather the evidence, call the judgement, write what it decided.

1. gather: the champion and its training window, the reference and current rows (``monitoring.windows``), the drift
   verdict (``monitoring.drift``), quality on the labelled rows, the history of judged windows, the canary, the dbt
   lineage of the drifted columns;
2. judge: ``flywheel.decisions.monitor.judge`` (pure) returns the figures, the retrain action and the alert packet;
3. write: the figures (``ops.monitor_metrics``), the Evidently report and the packet (report store), the decision
   (``ops.monitor_decisions``) and, live, the ledger entry. The decision row is written last: a run that fails
   before it leaves the window unjudged, and its retry judges it whole.

Live runs (``mode='live'``) write the ledger, send alerts and may request a retrain; what-if runs (a replay of past
windows to try a policy) write the same figures under ``mode='what_if'`` and send nothing. A re-run of a window
keeps its first decision: clearing a monitor run never requests a second retrain or a second alert.
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd

from flywheel.core.clock import naive_utc
from flywheel.core.packet import AlertPacket, CanarySummary, ReportLinks, UpstreamNode
from flywheel.core.tasks import primary_metric
from flywheel.data import predictions
from flywheel.decisions import monitor as judgement
from flywheel.decisions.monitor import LIVE, WHAT_IF, Context, Mode, PastWindow, WindowEvidence
from flywheel.decisions.monitor_result import MonitorResult
from flywheel.monitoring import alerts, history, upstream
from flywheel.monitoring.drift import ColumnDrift, DriftSettings, check_drift, column_drift
from flywheel.monitoring.evidently_report import PREDICTION, render
from flywheel.monitoring.windows import LABEL, Windows, load_windows
from flywheel.registry import artifacts, ledger
from flywheel.registry.client import TrainingRun
from flywheel.specs import ModelSpec, MonitorSpec
from flywheel.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["LIVE", "WHAT_IF", "report_prefix", "run_monitor", "send_alert"]

_LEDGER_EVENTS = {"retrain": "retrain_requested", "suppressed": "retrain_suppressed", "page": "paged"}


def report_prefix(name: str, mode: str, window: tuple[datetime, datetime]) -> str:
    """Stable, predictable names: ``<model>/monitor/<start>_<end>/`` (``monitor-what-if`` for replays)."""
    folder = "monitor" if mode == LIVE else "monitor-what-if"
    return f"{name}/{folder}/{window[0]:%Y-%m-%d}_{window[1]:%Y-%m-%d}/"


def drift_settings(monitor: MonitorSpec) -> DriftSettings:
    d = monitor.drift
    return DriftSettings(
        d.min_rows, d.effect_threshold, d.null_quantile, d.calibration_resamples, critical_share=d.critical_share
    )


def run_monitor(
    workspace: Workspace, name: str, window: tuple[datetime, datetime], mode: Mode = LIVE, actor: str = "monitor"
) -> MonitorResult:
    """Judge ``window`` (start inclusive, end exclusive) for ``name``; returns the decision and where things are."""
    warehouse = workspace.warehouse
    history.ensure_tables(warehouse)
    window = (naive_utc(window[0]), naive_utc(window[1]))
    earlier = history.decision_for(warehouse, name, mode, window[1])
    if earlier is not None:
        result = MonitorResult.from_record(earlier, already_judged=True)
        log.info(
            "%s: window ending %s already judged (%s, %s): keeping that decision",
            name,
            window[1],
            result.severity,
            result.action,
        )
        return result
    champion = workspace.registry.champion(name)
    if champion is None:
        return _no_champion(workspace, name, window, mode, actor)
    return _judge(workspace, name, champion, window, mode, actor)


def _no_champion(
    workspace: Workspace, name: str, window: tuple[datetime, datetime], mode: Mode, actor: str
) -> MonitorResult:
    reason = "no @champion yet: the first training is requested"
    result = MonitorResult(
        model=name,
        mode=mode,
        window_start=window[0],
        window_end=window[1],
        champion="-",
        severity="insufficient_data",
        action="retrain",
        trigger_kind="no_champion",
        reason=reason,
    )
    history.record_decision(workspace.warehouse, name, mode, result.record())
    if mode == LIVE:
        ledger.record(
            workspace.warehouse,
            ledger.LedgerEntry(name, "-", "retrain_requested", actor, reason, {"window_end": window[1]}),
        )
    return result


def _target_drift(spec: ModelSpec, windows: Windows, settings: DriftSettings) -> ColumnDrift | None:
    labelled = windows.current[LABEL].dropna()
    if len(labelled) < settings.min_rows:
        return None
    kind = "numeric" if spec.task == "regression" else "categorical"
    return column_drift(LABEL, kind, windows.reference[LABEL], labelled, settings)


def _gather(
    workspace: Workspace, spec: ModelSpec, monitor: MonitorSpec, champion: str, window: tuple[datetime, datetime]
) -> tuple[WindowEvidence, Windows, TrainingRun]:
    """Score the window with the champion and measure it: drift, target drift, quality."""
    run = workspace.registry.training_run(spec.name, champion)
    model = artifacts.load_verified_model(workspace.registry.mlflow, spec.name, champion)
    windows = load_windows(spec, monitor, workspace.warehouse, champion, model, run.data_window, window)
    numeric, categorical = _judged_features(spec, monitor)
    dsettings = drift_settings(monitor)
    verdict = check_drift(
        windows.reference, windows.current, numeric, categorical, dsettings, prediction_column=PREDICTION
    )
    target = _target_drift(spec, windows, dsettings) if verdict.severity != "insufficient_data" else None
    labelled = windows.current[windows.current[LABEL].notna()]
    quality = judgement.quality(
        primary_metric(spec),
        labelled[LABEL],
        labelled[PREDICTION],
        run.metrics.get(f"holdout_{spec.gates.primary_metric}"),
        monitor.quality,
    )
    evidence = WindowEvidence(
        model=spec.name,
        champion=champion,
        window=window,
        verdict=verdict,
        target=target,
        quality=quality,
        reference_description=windows.reference_description,
        labelled_rows=windows.labelled_rows,
        logged_predictions=windows.logged_predictions,
    )
    return evidence, windows, run


def _judged_features(spec: ModelSpec, monitor: MonitorSpec) -> tuple[list[str], list[str]]:
    ignored = set(monitor.drift.ignore)
    return (
        [c for c in spec.features.numeric if c not in ignored],
        [c for c in spec.features.categorical if c not in ignored],
    )


def _context(
    workspace: Workspace,
    spec: ModelSpec,
    monitor: MonitorSpec,
    evidence: WindowEvidence,
    mode: Mode,
    run: TrainingRun,
    report: ReportLinks,
) -> Context:
    """What happened before and around the window: its history, the canary, new labels, dbt lineage."""
    warehouse, window = workspace.warehouse, evidence.window
    windows, requests = history.past(warehouse, spec.name, mode, window[1])
    canary = workspace.registry.canary(spec.name)
    if canary.version is None:
        summary = CanarySummary(status="none", summary="no challenger, no canary running")
    else:
        status = canary.status if canary.status != "none" else "not_started"
        text = (
            f"v{canary.version} at {canary.share:.0%} of traffic since {canary.started_at}"
            if canary.running
            else f"v{canary.version} is @challenger, canary {status.replace('_', ' ')}"
        )
        summary = CanarySummary(status=status, summary=text, version=canary.version, share=canary.share)
    lineage = upstream.upstream_of_columns(
        workspace.settings.dbt_manifest_path, spec.source.mart, [c.column for c in evidence.verdict.drifted]
    )
    base = workspace.settings.docs_base_url.rstrip("/")
    return Context(
        history=windows,
        requests=requests,
        past_live=_past_live(workspace, spec.name, window[1]),
        canary=summary,
        canary_running=canary.running,
        new_labelled_rows=_new_labelled_rows(workspace, spec.name, run.data_window[1]),
        upstream_dbt={c: [UpstreamNode(**node) for node in nodes] for c, nodes in lineage.items()},
        report=report,
        runbook=f"{base}/{monitor.alerts.runbook}" if base else monitor.alerts.runbook,
    )


def _past_live(workspace: Workspace, name: str, before: datetime) -> list[PastWindow]:
    rows = workspace.warehouse.fetch_all(
        f"select window_start, severity from {history.DECISIONS} where model = ? and mode = 'live' and window_end < ? "
        "order by window_end desc",
        (name, before),
    )
    return [PastWindow(pd.Timestamp(start).to_pydatetime(), str(severity)) for start, severity in rows]


def _new_labelled_rows(workspace: Workspace, name: str, last_event: str) -> int:
    predictions.ensure_tables(workspace.warehouse)
    rows = workspace.warehouse.fetch_all(
        f"select count(*) from {predictions.LABELS} where model = ? and event_time > ?",
        (name, datetime.fromisoformat(last_event)),
    )
    return int(rows[0][0])


def _judge(
    workspace: Workspace, name: str, champion: str, window: tuple[datetime, datetime], mode: Mode, actor: str
) -> MonitorResult:
    spec, monitor = workspace.spec(name), workspace.monitor_spec(name)
    evidence, windows, run = _gather(workspace, spec, monitor, champion, window)
    rows = [vars(row) for row in judgement.metric_rows(evidence)]
    history.write_metrics(workspace.warehouse, name, mode, champion, window, rows)

    store, prefix = workspace.store("reports"), report_prefix(name, mode, window)
    report = ReportLinks(
        html=store.uri(prefix + "report.html"),
        json=store.uri(prefix + "evidently.json"),
        verdict=store.uri(prefix + "verdict.json"),
    )
    if evidence.verdict.severity != "insufficient_data":
        numeric, categorical = _judged_features(spec, monitor)
        rendered = render(windows.reference, windows.current, evidence.verdict, numeric, categorical, LABEL, spec.task)
        store.write_bytes(prefix + "report.html", rendered.html)
        store.write_bytes(prefix + "evidently.json", rendered.json)

    context = _context(workspace, spec, monitor, evidence, mode, run, report)
    judged = judgement.judge(evidence, context, monitor)
    store.write_bytes(prefix + "verdict.json", judged.packet.to_json())
    decision = judged.decision
    result = MonitorResult(
        model=name,
        mode=mode,
        window_start=window[0],
        window_end=window[1],
        champion=champion,
        severity=evidence.verdict.severity,
        drifted=tuple(c.column for c in evidence.verdict.drifted),
        quality_drop=None if evidence.quality is None else evidence.quality.drop,
        action=decision.action,
        trigger_kind=decision.trigger,
        reason=decision.reason,
        report_uri=report.html,
        packet=prefix + "verdict.json" if judged.alerting else "",
    )
    history.record_decision(workspace.warehouse, name, mode, result.record())
    if mode == LIVE and decision.action != "none":
        extra = {"window_end": window[1], "trigger": decision.trigger, "drifted": ",".join(result.drifted)}
        ledger.record(
            workspace.warehouse,
            ledger.LedgerEntry(
                name,
                champion,
                _LEDGER_EVENTS[decision.action],
                actor,
                decision.reason,
                {**extra, "report": report.html},
            ),
        )
    log.info(
        "%s v%s %s..%s: %s; %s: %s",
        name,
        champion,
        window[0].date(),
        window[1].date(),
        evidence.verdict.reason,
        decision.action,
        decision.reason,
    )
    return result


def send_alert(workspace: Workspace, result: MonitorResult) -> list[alerts.Delivery]:
    """Deliver a live window's packet to its routes (quiet period and per-route isolation: monitoring.alerts)."""
    if not result.alerting:
        return []
    monitor = workspace.monitor_spec(result.model)
    packet = AlertPacket.model_validate_json(workspace.store("reports").read_bytes(result.packet))
    now = datetime.fromisoformat(packet.window.end)
    return alerts.deliver(packet, monitor.alerts, workspace.settings, workspace.warehouse, now)
