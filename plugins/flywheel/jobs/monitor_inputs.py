"""The monitor's inputs for one window, gathered from the workspace: the evidence measured on the window (drift,
target drift, quality, with the champion's scores) and its context (history, canary, new labels, dbt lineage).
``flywheel.jobs.monitor`` passes both to the pure judgement."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from flywheel.core.packet import CanarySummary, ReportLinks, UpstreamNode
from flywheel.core.tasks import primary_metric, task_of
from flywheel.data import predictions
from flywheel.decisions import monitor as judgement
from flywheel.decisions.impact import drift_impact, estimated_quality
from flywheel.decisions.monitor import Context, Mode, PastWindow
from flywheel.decisions.monitor_evidence import WindowEvidence
from flywheel.decisions.retrain import RetrainRequest, WindowRecord
from flywheel.monitoring import estimate, history, upstream
from flywheel.monitoring.drift import ColumnDrift, DriftSettings, check_drift, column_drift
from flywheel.monitoring.evidently_report import PREDICTION, PROBABILITIES
from flywheel.monitoring.windows import LABEL, Windows, load_windows, with_decided_class
from flywheel.registry import artifacts
from flywheel.registry.client import TrainingRun
from flywheel.registry.tracking import EVALUATED_SCORE_COLUMN
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
) -> tuple[WindowEvidence, Windows, TrainingRun, pd.DataFrame | None]:
    """Score the window with the champion and measure it: drift, target drift, quality, the quality estimated
    without labels and the drift's share of the model's importance. Also returns the champion's holdout with its
    out-of-sample scores (label and score columns as the quality report reads them), None for an older version."""
    run = workspace.registry.training_run(spec.name, champion)
    model = artifacts.load_verified_model(workspace.registry.mlflow, spec.name, champion)
    windows = load_windows(spec, monitor, workspace.warehouse, champion, model, run.data_window, window)
    numeric, categorical = judged_features(spec, monitor)
    dsettings = drift_settings(monitor)
    verdict = check_drift(
        windows.reference,
        windows.current,
        numeric,
        categorical,
        dsettings,
        prediction_column=PREDICTION,
        prediction_kind="categorical" if spec.classes else "numeric",  # multiclass: the decided class
    )
    target = _target_drift(spec, windows, dsettings) if verdict.severity != "insufficient_data" else None
    labelled = windows.current[windows.current[LABEL].notna()]
    metric, champion_holdout = primary_metric(spec), run.metrics.get(f"holdout_{spec.gates.primary_metric}")
    scores = PROBABILITIES if spec.classes else PREDICTION  # what the metric reads: a score, or class probabilities
    quality = judgement.quality(metric, labelled[LABEL], labelled[scores], champion_holdout, monitor.quality)
    holdout = _scored_holdout(workspace, spec, run)
    calibration = None
    if holdout is not None and metric.name in estimate.ESTIMATED_METRICS:
        calibration = estimate.calibrate(holdout[PREDICTION], holdout[LABEL])
    window_scores = windows.current[scores].dropna()
    estimated = estimated_quality(
        metric,
        estimate.estimate(metric.name, window_scores.to_numpy(dtype=float), calibration) if calibration else None,
        champion_holdout,
        monitor.quality,
        len(window_scores),
        quality,
    )
    impact = drift_impact(verdict, workspace.registry.importance(run.run_id), monitor.drift.critical_importance_share)
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
        estimate=estimated,
        impact=impact,
    )
    return evidence, windows, run, holdout


def _scored_holdout(workspace: Workspace, spec: ModelSpec, run: TrainingRun) -> pd.DataFrame | None:
    """The champion's holdout: its label and the scores of the model as evaluated (fitted before those rows),
    never the champion's fit on rows it was trained on. The quality report's reference and CBPE's calibration."""
    holdout = workspace.registry.evaluated_holdout(run.run_id)
    if holdout is None:
        return None
    label = task_of(spec).label(holdout[spec.source.target_column])
    scored = pd.DataFrame({LABEL: np.asarray(label, dtype=float), PREDICTION: holdout[EVALUATED_SCORE_COLUMN]})
    return with_decided_class(scored, spec) if spec.classes else scored


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
    alerts = history.alert_figures(warehouse, spec.name, "live")["alert"].dropna()
    return Context(
        history=windows,
        requests=requests,
        past_live=[
            PastWindow(
                pd.Timestamp(row.window_start).to_pydatetime(),
                str(row.severity),
                alerts.get(pd.Timestamp(row.window_end)),
            )
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
