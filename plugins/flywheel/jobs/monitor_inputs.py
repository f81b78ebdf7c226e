"""The monitor's inputs for one window, gathered from the workspace: the evidence measured on the window (drift,
target drift, quality, with the champion's scores) and its context (history, canary, new labels, dbt lineage).
``flywheel.jobs.monitor`` passes both to the pure judgement."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from flywheel.core.packet import CanarySummary, ReportLinks, UpstreamNode
from flywheel.core.tasks import primary_metric
from flywheel.data import predictions
from flywheel.decisions import monitor as judgement
from flywheel.decisions.monitor import Context, Mode, PastWindow, WindowEvidence
from flywheel.decisions.retrain import RetrainRequest, WindowRecord
from flywheel.monitoring import history, upstream
from flywheel.monitoring.drift import ColumnDrift, DriftSettings, check_drift, column_drift
from flywheel.monitoring.evidently_report import PREDICTION
from flywheel.monitoring.windows import LABEL, Windows, load_windows
from flywheel.registry import artifacts
from flywheel.registry.client import TrainingRun
from flywheel.specs import ModelSpec, MonitorSpec
from flywheel.workspace import Workspace


def drift_settings(monitor: MonitorSpec) -> DriftSettings:
    d = monitor.drift
    return DriftSettings(
        d.min_rows, d.effect_threshold, d.null_quantile, d.calibration_resamples, critical_share=d.critical_share
    )


def _target_drift(spec: ModelSpec, windows: Windows, settings: DriftSettings) -> ColumnDrift | None:
    labelled = windows.current[LABEL].dropna()
    if len(labelled) < settings.min_rows:
        return None
    kind = "numeric" if spec.task == "regression" else "categorical"
    return column_drift(LABEL, kind, windows.reference[LABEL], labelled, settings)


def gather(
    workspace: Workspace, spec: ModelSpec, monitor: MonitorSpec, champion: str, window: tuple[datetime, datetime]
) -> tuple[WindowEvidence, Windows, TrainingRun]:
    """Score the window with the champion and measure it: drift, target drift, quality."""
    run = workspace.registry.training_run(spec.name, champion)
    model = artifacts.load_verified_model(workspace.registry.mlflow, spec.name, champion)
    windows = load_windows(spec, monitor, workspace.warehouse, champion, model, run.data_window, window)
    numeric, categorical = judged_features(spec, monitor)
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


def judged_features(spec: ModelSpec, monitor: MonitorSpec) -> tuple[list[str], list[str]]:
    ignored = set(monitor.drift.ignore)
    return (
        [c for c in spec.features.numeric if c not in ignored],
        [c for c in spec.features.categorical if c not in ignored],
    )


def context(
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
    judged = history.past(warehouse, spec.name, mode, window[1])
    windows, requests = _history(judged)
    # "since" always reads the live history (a what-if replay is measured against what on-call saw).
    live = judged if mode == "live" else history.past(warehouse, spec.name, "live", window[1])
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
        past_live=[
            PastWindow(pd.Timestamp(row.window_start).to_pydatetime(), str(row.severity))
            for row in live.iloc[::-1].itertuples(index=False)
        ],
        canary=summary,
        canary_running=canary.running,
        new_labelled_rows=_new_labelled_rows(workspace, spec.name, run.data_window[1]),
        upstream_dbt={c: [UpstreamNode(**node) for node in nodes] for c, nodes in lineage.items()},
        report=report,
        runbook=f"{base}/{monitor.alerts.runbook}" if base else monitor.alerts.runbook,
    )


def _history(frame: pd.DataFrame) -> tuple[list[WindowRecord], list[RetrainRequest]]:
    """Judged windows and the retrain requests among them, oldest first, as the retrain policy reads them."""
    windows, requests = [], []
    for row in frame.itertuples(index=False):
        drifted = tuple(filter(None, (row.drifted or "").split(",")))
        quality = None if pd.isna(row.quality_drop) else float(row.quality_drop)
        end = pd.Timestamp(row.window_end).to_pydatetime()
        windows.append(WindowRecord(end, str(row.champion), str(row.severity), drifted, quality))
        if row.action == "retrain":
            requests.append(RetrainRequest(end, str(row.trigger_kind), str(row.champion), drifted))
    return windows, requests


def _new_labelled_rows(workspace: Workspace, name: str, last_event: str) -> int:
    predictions.ensure_tables(workspace.warehouse)
    rows = workspace.warehouse.fetch_all(
        f"select count(*) from {predictions.LABELS} where model = ? and event_time > ?",
        (name, datetime.fromisoformat(last_event)),
    )
    return int(rows[0][0])
