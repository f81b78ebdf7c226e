"""What the demo's loop achieved: the live primary metric per month (ROC AUC, MAE, ...) against a never-retrained
first model on the same rows, as a table, a CSV and a chart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from flywheel.core.tasks import Metric
from flywheel.settings import Settings
from flywheel_replay.costs import loop_costs


@dataclass
class MonthRow:
    month: str
    answered: dict[str, int]
    severity: str = ""
    action: str = ""
    alerts: int = 0
    events: list[str] = field(default_factory=list)


def _month_frame(model: str, settings: Settings, month: str) -> pd.DataFrame:
    """The month's labelled rows with the score the service answered (whichever arm) and the features."""
    from flywheel.data import predictions
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring.windows import LABEL, current_rows
    from flywheel.specs import load_spec

    spec = load_spec(settings.models_dir / f"{model}.yaml")
    warehouse = open_warehouse(settings)
    start = pd.Timestamp(f"{month}-01")
    frame = current_rows(
        spec, warehouse, model, "-", (start.to_pydatetime(), (start + pd.offsets.MonthBegin(1)).to_pydatetime())
    )
    served = predictions.logged_scores(warehouse, model, source="api")
    frame["served_score"] = frame[spec.source.id_column].astype(str).map(served)  # a multiclass row: its list
    if not spec.classes:
        frame["served_score"] = frame["served_score"].astype("float64")
    return frame[frame[LABEL].notna()]


def live_quality_by_month(model: str, settings: Settings, months: list[str], first_version: str = "1") -> pd.DataFrame:
    """Per month: the primary metric of what the service answered, of the first model (never retrained), of a
    monthly cron retrain and of a calendar with the loop's number of retrains, all on the same rows (``baselines``).
    Columns: rows, live, first_model, cron_monthly, same_budget_schedule; ``attrs``: the metric, retrain counts."""
    import mlflow

    from flywheel.core.tasks import primary_metric
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring.windows import LABEL, score
    from flywheel.specs import load_spec
    from flywheel.training.dataset import load_snapshot
    from flywheel_replay import baselines

    spec = load_spec(settings.models_dir / f"{model}.yaml")
    metric = primary_metric(spec)
    first = mlflow.sklearn.load_model(f"models:/{model}/{first_version}")
    frames: dict[str, pd.DataFrame] = {}
    rows: list[dict[str, Any]] = []
    for month in months:
        frame = _month_frame(model, settings, month)
        frame = frame[frame["served_score"].notna()]
        live = metric.value(frame[LABEL], frame["served_score"])
        if live is None:
            continue
        frames[month] = frame
        first_figure = metric.value(frame[LABEL], score(first, frame, spec))
        rows.append({"month": month, "rows": len(frame), "live": live, "first_model": first_figure})
    figures = pd.DataFrame(rows, columns=["month", "rows", "live", "first_model"]).set_index("month")
    loop = _loop_counts(model, settings)
    snapshot = load_snapshot(spec, open_warehouse(settings)).frame
    yardsticks = baselines.arms(
        snapshot,
        frames,
        spec,
        metric,
        first,
        loop["retrains"],
        lambda m, f: score(m, f, spec),
        LABEL,
        _earlier_cron(model, settings),
    )
    figures = figures.join(yardsticks)
    figures.attrs.update(metric=metric.name, loop=loop, alerts=_alert_score(model, settings, metric.name, months))
    figures.attrs.update(costs=loop_costs(model, settings, int(figures["rows"].sum())))
    figures.attrs.update(yardsticks.attrs)
    return figures


def _alert_score(model: str, settings: Settings, metric: str, months: list[str]) -> dict[str, Any]:
    """The monitor's live windows scored against the drops the labels showed (``alert_score``)."""
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring import history
    from flywheel_replay.alert_score import score_alerts, scored_windows

    warehouse = open_warehouse(settings)
    history.ensure_tables(warehouse)
    metrics = warehouse.query_df(
        f"select window_start, metric, subject, value, flagged from {history.METRICS} where model = ? and mode = ?",
        (model, "live"),
    )
    return score_alerts(scored_windows(metrics, metric, months))


def _earlier_cron(model: str, settings: Settings) -> dict[str, float]:
    """The cron's monthly figures from this home's last summary (the data of a past month does not change)."""
    import io

    from flywheel.storage import open_store

    store = open_store(settings.reports_uri, settings.s3_endpoint_url)
    name = f"{model}/demo/live_quality.csv"
    if not store.exists(name):
        return {}
    earlier = pd.read_csv(io.BytesIO(store.read_bytes(name)), index_col="month")
    if "cron_monthly" not in earlier:
        return {}
    return {str(m): float(v) for m, v in earlier["cron_monthly"].dropna().items()}


def _loop_counts(model: str, settings: Settings) -> dict[str, int]:
    """Retrain requests and promotions after the first champion, from the ledger."""
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import ledger

    events = [e["event"] for e in ledger.history(open_warehouse(settings), model, limit=100_000)]
    return {"retrains": events.count("retrain_requested"), "promotions": max(0, events.count("promoted") - 1)}


def summary(model: str, figures: pd.DataFrame) -> dict[str, Any]:
    """``reports/<model>/demo/summary.json``: the loop against what a user would do instead, on the same rows."""
    from flywheel.core.tasks import METRICS

    metric = METRICS[figures.attrs["metric"]]

    def mean(column: str) -> float | None:
        values = figures[column].dropna()
        return round(float(values.mean()), 4) if len(values) else None

    alerts = figures.attrs.get("alerts", {})
    return {
        "model": model,
        "metric": metric.name,
        "higher_is_better": metric.higher_is_better,
        "months": list(figures.index),
        "looped": {"mean": mean("live"), **figures.attrs["loop"]},
        "never_retrained": {"mean": mean("first_model"), "retrains": 0},
        "cron_monthly": {"mean": mean("cron_monthly"), "retrains": figures.attrs["cron_retrains"]},
        "same_budget_schedule": {
            "mean": mean("same_budget_schedule"),
            "retrains": figures.attrs["budget_retrains"],
            "retrained_in": figures.attrs["schedule"],
        },
        "alerts": {
            k: alerts.get(k)
            for k in ("critical", "drops", "precision", "recall", "recall_before_labels", "precision_before_labels")
        },
        "estimate_mae": alerts.get("estimate_mae"),
        "costs": figures.attrs.get("costs", {}),
    }


def print_table(console: Console, model: str, rows: list[MonthRow], figures: pd.DataFrame) -> None:
    from flywheel.core.tasks import METRICS

    metric = METRICS[figures.attrs["metric"]]
    console.print(as_table(model, rows, figures, metric))
    if figures.empty:
        return
    facts = summary(model, figures)
    direction = "higher" if metric.higher_is_better else "lower"
    console.print(
        f"{model}: mean {metric.label} over {figures.index[0]} .. {figures.index[-1]} ({direction} is better), "
        "on the same labelled rows:"
    )
    for arm, what in (
        ("looped", "the loop (as served: champion and canary shares)"),
        ("never_retrained", "the first model, never retrained"),
        ("cron_monthly", "a monthly cron retrain (no gate, in place at once)"),
        ("same_budget_schedule", "the loop's number of retrains on a calendar"),
    ):
        figure = facts[arm]
        versus = "" if arm == "looped" else f" ({metric.advantage(facts['looped']['mean'], figure['mean']):+.4g} "
        versus += "" if arm == "looped" else "in the loop's favour)"
        console.print(f"  {figure['mean']:.4g}  {what}: {figure['retrains']} retrains{versus}")
    alerts = facts["alerts"]
    console.print(
        f"  alerts: {alerts['critical']} critical windows, {alerts['drops']} quality drops on labels; precision "
        f"{alerts['precision']}, recall {alerts['recall']}; before labels: recall {alerts['recall_before_labels']}, "
        f"precision {alerts['precision_before_labels']}; "
        f"estimate MAE {facts['estimate_mae']} (docs/monitoring.md: how each is counted)"
    )
    if costs := facts["costs"]:
        console.print(
            f"  cost: {costs['retrain_trainings']} trainings after the first ({costs['warm_starts']} warm starts), "
            f"{costs['retrain_cpu_seconds']} CPU s; the monitor {costs['monitor_cpu_seconds']} CPU s over "
            f"{costs['monitor_windows']} windows"
        )
    if costs and costs.get("roi") is not None:
        money = costs["currency"]
        console.print(
            f"  return: {costs['value_over_baseline_per_1000_rows']:+,.0f} {money} of value over the baseline per "
            f"1,000 rows for {costs['loop_cost_per_1000_rows']:.6f} {money} of the loop's cost per 1,000 rows "
            f"(retrains, monitor and scoring at {costs['cost_per_cpu_hour']:g} {money} per CPU-hour): "
            f"ROI {costs['roi']:,.0f}"
        )


def save_chart(model: str, settings: Settings, figures: pd.DataFrame, rows: list[MonthRow] | None = None) -> Path:
    """A PNG of the live metric by month, next to the yardsticks', with the loop's retrain requests and promotions
    marked; written to the report store as ``<model>/demo/live_quality.png``, with the figures
    (``live_quality.csv``) and ``summary.json`` (``summary``)."""
    import io
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from flywheel.core.tasks import METRICS
    from flywheel.storage import open_store

    metric = METRICS[figures.attrs["metric"]]
    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    # Months as positions with their names as labels: plotting the strings themselves made matplotlib log a
    # "categorical units" notice per line into the demo's output.
    position = {month: i for i, month in enumerate(figures.index)}
    x = list(position.values())
    ax.plot(x, figures["live"], marker="o", linewidth=2, label="the loop, as served")
    ax.plot(x, figures["cron_monthly"], marker=".", linestyle="-.", label="monthly cron retrain")
    ax.plot(x, figures["same_budget_schedule"], marker=".", linestyle=":", label="same retrains, on a calendar")
    ax.plot(x, figures["first_model"], marker="s", linestyle="--", label="first model, never retrained")
    for row in rows or []:
        if row.month not in figures.index:
            continue
        y = figures.loc[row.month, "live"]
        if row.action == "retrain":
            ax.annotate(
                "retrain", (position[row.month], y), textcoords="offset points", xytext=(0, 10), ha="center", fontsize=7
            )
        if any(e.startswith("promoted") for e in row.events):
            ax.plot([position[row.month]], [y], marker="*", markersize=14, color="black", linestyle="none")
    better = "higher" if metric.higher_is_better else "lower"
    ax.set_ylabel(f"{metric.label}\n(labelled rows of the month; {better} is better)")  # two lines: long names fit
    ax.set_title(f"{model}: live quality, month by month (star: a promotion)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_xticks(x, list(position), rotation=45, ha="right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    store = open_store(settings.reports_uri, settings.s3_endpoint_url)
    name = f"{model}/demo/live_quality.png"
    store.write_bytes(name, buffer.getvalue())
    figures.assign(metric=metric.name).to_csv(csv := io.StringIO())
    store.write_bytes(f"{model}/demo/live_quality.csv", csv.getvalue().encode())
    store.write_bytes(f"{model}/demo/summary.json", json.dumps(summary(model, figures), indent=2).encode())
    return Path(store.uri(name)) if "://" not in store.uri(name) else Path(name)


def _served(answered: dict[str, int]) -> str:
    """``{'champion v1': 4858, 'challenger v2': 536}`` -> ``v1 90% / v2 10%``."""
    total = sum(answered.values()) or 1
    parts = sorted(answered.items(), key=lambda kv: -kv[1])
    return " / ".join(
        f"{key.split()[-1]} {count / total:.0%}" if len(parts) > 1 else key.split()[-1] for key, count in parts
    )


def as_table(model: str, rows: list[MonthRow], figures: pd.DataFrame, metric: Metric) -> Table:
    table = Table(title=f"{model}: the loop, month by month")
    live = f"live {metric.label}"
    columns = ("month", "served by", live, "first model", "cron", "calendar", "drift", "alerts", "policy", "registry")
    for column in columns:
        table.add_column(column, no_wrap=column in ("month", live, "first model", "cron", "calendar"))
    for row in rows:
        f = figures.loc[row.month] if row.month in figures.index else None
        table.add_row(
            row.month,
            _served(row.answered),
            "-" if f is None else f"{f['live']:.4g}",
            "-" if f is None else f"{f['first_model']:.4g}",
            "-" if f is None else f"{f['cron_monthly']:.4g}",
            "-" if f is None else f"{f['same_budget_schedule']:.4g}",
            row.severity,
            str(row.alerts),
            row.action,
            ", ".join(row.events),
        )
    return table
