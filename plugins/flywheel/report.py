"""What `flywheel status` and `flywheel-replay demo` print: stages, validation, the model, its canary and ledger."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from flywheel.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from flywheel.data.warehouse import Warehouse
    from flywheel.workspace import Workspace


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def print_summary(console: Console, models: list[str], workspace: Workspace) -> None:
    """The pipeline's state once, then each model's."""
    print_pipeline(console, workspace.settings, workspace.warehouse)
    for model in models:
        print_model(console, model, workspace)


def print_pipeline(console: Console, settings: Settings, warehouse: Warehouse) -> None:
    from flywheel import status as st

    rows = Table("stage", "rows", title="Rows per stage")
    for table, count in st.stage_rows(settings, warehouse).items():
        rows.add_row(table, "-" if count is None else f"{count:,}")
    files = st.ingest_files(warehouse)
    ingest = Table("status", "files", "rows", title="Landing files")
    for r in files.itertuples(index=False):
        ingest.add_row(str(r.status), str(r.files), f"{int(r.rows or 0):,}")
    checks = Table("mart", "partitions passed", "quarantined", "rows", title="Validation (GX)")
    for r in st.validation(warehouse).itertuples(index=False):
        checks.add_row(str(r.mart), str(int(r.passed)), str(int(r.failed)), f"{int(r.rows):,}")
    console.print(rows, ingest, checks)


def print_model(console: Console, model: str, workspace: Workspace) -> None:
    from flywheel import status as st
    from flywheel.core.tasks import primary_metric, task_of

    settings, warehouse, spec = workspace.settings, workspace.warehouse, workspace.spec(model)
    task, metric = task_of(spec), primary_metric(spec)
    s = st.model_status(model, settings, warehouse)
    console.print(f"\n[bold]{model}[/bold]: @champion = v{s.champion}, @challenger = v{s.challenger}")
    if not s.metrics:
        console.print("No registered version yet.")
        return
    m = s.metrics
    metrics = Table(
        "holdout metric",
        "model",
        "baseline",
        title=f"v{s.champion or s.challenger}: trained on "
        f"{s.params.get('train_months')}, holdout {s.params.get('holdout_months')}",
    )
    for k in [*task.metrics, *(f"recall__{c}" for c in task.classes)]:
        metrics.add_row(k, _fmt(m.get(f"holdout_{k}")), _fmt(m.get(f"baseline_holdout_{k}")))
    if spec.business:
        metrics.add_row(
            "value per 1,000 rows",
            _fmt(m.get("holdout_value_per_1000"), 0),
            _fmt(m.get("baseline_holdout_value_per_1000"), 0),
        )
        if not task.classes:  # a multiclass model decides by its value matrix, not a threshold
            metrics.add_row("decision threshold", _fmt(m.get("decision_threshold"), 3), "")
    segments = Table(
        "segment", "value", "rows", f"model {metric.label}", f"baseline {metric.label}", title="Per segment"
    )
    for r in s.segments.itertuples(index=False) if s.segments is not None else []:
        row = r._asdict()
        segments.add_row(
            r.segment,
            str(r.value),
            str(r.rows),
            _fmt(row.get(f"model_{metric.name}")),
            _fmt(row.get(f"baseline_{metric.name}")),
        )
    console.print(metrics, segments)
    _print_canary(console, model, workspace)
    _print_monitor(console, model, warehouse)
    for entry in s.history:
        console.print(
            f"ledger: {entry['recorded_at']} v{entry['version']} {entry['event']} by {entry['actor']}: "
            f"{entry['reason']}"
        )
    console.print(
        f"\nWhere to look ({model}):\n"
        f"  model card      {s.artifact_uri}/model_card.md\n"
        f"  MLflow UI       {Path(sys.executable).parent / 'mlflow'} ui --backend-store-uri "
        f"{settings.mlflow_tracking_uri}\n"
        f"  validation      {settings.reports_uri}/validation/\n"
        f"  drift reports   {settings.reports_uri}/{model}/monitor/\n"
        f"  archive         {settings.archive_uri}\n"
        f"  quarantine      {settings.quarantine_uri}\n"
        f"  task logs       {settings.home / 'logs'}\n"
        f'  Airflow UI      eval "$(flywheel env)" && airflow standalone'
    )


def _print_canary(console: Console, model: str, workspace: Workspace) -> None:
    from flywheel.core.tasks import METRICS
    from flywheel.jobs.canary import current_evidence

    state, evidence = current_evidence(workspace, model)
    if not state.running or evidence is None:
        console.print(f"canary: none running (last challenger state: {state.status})")
        return
    policy = workspace.spec(model).canary
    stages = [policy.stage_label(i) for i in range(len(policy.stages))]
    label = METRICS[evidence.metric].label
    console.print(
        f"canary: v{state.version} at {stages[state.step]} (stage {state.step + 1} of {len(stages)}: "
        f"{' -> '.join(stages)} -> promotion), against champion v{state.champion}, "
        f"stage started {state.step_started_at} (data time)"
    )
    table = Table("arm", "version", "records", "errors", "labelled", label, "p95 ms", title="Canary evidence")
    for arm, e in (("champion", evidence.champion), ("challenger", evidence.challenger)):
        table.add_row(
            arm, e.version, str(e.records), str(e.errors), str(e.labelled), _fmt(e.metric), _fmt(e.p95_latency_ms, 1)
        )
    console.print(table)
    if evidence.interval:
        console.print(
            f"{label} advantage of the challenger {_fmt(evidence.difference)}, interval "
            f"[{evidence.interval[0]:+.4f}, {evidence.interval[1]:+.4f}] ({evidence.design} {evidence.method}, "
            f"minimum detectable effect {_fmt(evidence.mde)} of the {policy.max_metric_drop} tolerated)"
        )


def print_monitor_history(console: Console, decisions: pd.DataFrame, figures: pd.DataFrame | None = None) -> None:
    """One row per judged window: champion, the alert's severity (by impact) and the drift verdict's, live quality
    and its estimate before labels (``figures``: ``history.alert_figures``), drifted features, the policy's action."""
    import pandas as pd

    table = Table(
        "window",
        "champion",
        "alert",
        "drift",
        "quality (estimate)",
        "drifted features",
        "policy",
        "reason",
        title="Monitor, window by window",
    )
    for r in decisions.itertuples(index=False):
        drifted = (r.drifted or "").split(",")
        shown = ", ".join(drifted[:4]) + (f" +{len(drifted) - 4}" if len(drifted) > 4 else "")
        end = pd.Timestamp(r.window_end)
        f = figures.loc[end] if figures is not None and end in figures.index else None
        alert = "-" if f is None or pd.isna(f["alert"]) else str(f["alert"])
        quality = "-" if f is None or pd.isna(f["live"]) else f"{f['live']:.4g}"
        if f is not None and not pd.isna(f["estimate"]):
            quality += f" ({f['estimate']:.4g})"
        table.add_row(
            f"{str(r.window_start)[:7]}",
            f"v{r.champion}",
            alert,
            str(r.severity),
            quality,
            shown,
            str(r.action),
            str(r.reason),
        )
    console.print(table)


def _print_monitor(console: Console, model: str, warehouse: Warehouse) -> None:
    from flywheel.monitoring import history

    decisions = history.decisions(warehouse, model)
    if decisions.empty:
        console.print("monitor: no window judged yet")
        return
    print_monitor_history(console, decisions.tail(6), history.alert_figures(warehouse, model))
