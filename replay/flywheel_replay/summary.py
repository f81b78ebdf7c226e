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
    served = warehouse.query_df(
        f"select entity_id, avg(score) as served_score from {predictions.PREDICTION_LOG} "
        "where model = ? and source = 'api' and status = 'ok' group by entity_id",
        (model,),
    ).set_index("entity_id")["served_score"]
    frame["served_score"] = frame[spec.source.id_column].astype(str).map(served).astype("float64")
    return frame[frame[LABEL].notna()]


def live_quality_by_month(model: str, settings: Settings, months: list[str], first_version: str = "1") -> pd.DataFrame:
    """Per month: the primary metric of what the service answered, and of the first model (never retrained) on the
    same rows. Columns: rows, live, first_model; ``attrs['metric']`` names the metric."""
    import mlflow

    from flywheel.core.tasks import primary_metric
    from flywheel.monitoring.windows import LABEL, score
    from flywheel.specs import load_spec

    spec = load_spec(settings.models_dir / f"{model}.yaml")
    metric = primary_metric(spec)
    first = mlflow.sklearn.load_model(f"models:/{model}/{first_version}")
    rows: list[dict[str, Any]] = []
    for month in months:
        frame = _month_frame(model, settings, month)
        frame = frame[frame["served_score"].notna()]
        live = metric.value(frame[LABEL], frame["served_score"])
        if live is None:
            continue
        rows.append(
            {
                "month": month,
                "rows": len(frame),
                "live": live,
                "first_model": metric.value(frame[LABEL], score(first, frame, spec)),
            }
        )
    figures = pd.DataFrame(rows, columns=["month", "rows", "live", "first_model"]).set_index("month")
    figures.attrs["metric"] = metric.name
    return figures


def print_table(console: Console, model: str, rows: list[MonthRow], figures: pd.DataFrame) -> None:
    from flywheel.core.tasks import METRICS

    metric = METRICS[figures.attrs["metric"]]
    console.print(as_table(model, rows, figures, metric))
    if not figures.empty:
        live, first = figures["live"].mean(), figures["first_model"].mean()
        console.print(
            f"{model}: mean live {metric.label} over {figures.index[0]} .. {figures.index[-1]}: "
            f"[bold]{live:.4g}[/bold] (looped) vs {first:.4g} (the first model, never retrained, on the same rows): "
            f"{metric.advantage(live, first):+.4g} in the looped model's favour"
            + ("" if metric.higher_is_better else f" ({metric.label} is an error: lower is better)")
        )


def save_chart(model: str, settings: Settings, figures: pd.DataFrame) -> Path:
    """A PNG of the live metric by month, next to the never-retrained model's; written to the report store as
    ``<model>/demo/live_quality.png`` (and the figures as ``live_quality.csv``)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from flywheel.core.tasks import METRICS
    from flywheel.storage import open_store

    metric = METRICS[figures.attrs["metric"]]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    x = list(figures.index)
    ax.plot(x, figures["live"], marker="o", label="live (champion/challenger as served, retrained by the loop)")
    ax.plot(x, figures["first_model"], marker="s", linestyle="--", label="first model, never retrained")
    better = "higher" if metric.higher_is_better else "lower"
    ax.set_ylabel(f"{metric.label} (labelled rows of the month; {better} is better)")
    ax.set_title(f"{model}: live quality, month by month")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    store = open_store(settings.reports_uri, settings.s3_endpoint_url)
    name = f"{model}/demo/live_quality.png"
    store.write_bytes(name, buffer.getvalue())
    figures.assign(metric=metric.name).to_csv(csv := io.StringIO())
    store.write_bytes(f"{model}/demo/live_quality.csv", csv.getvalue().encode())
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
    for column in ("month", "served by", live, "first model", "drift", "alerts", "policy", "registry"):
        table.add_column(column, no_wrap=column in ("month", live, "first model"))
    for row in rows:
        f = figures.loc[row.month] if row.month in figures.index else None
        table.add_row(
            row.month,
            _served(row.answered),
            "-" if f is None else f"{f['live']:.4g}",
            "-" if f is None else f"{f['first_model']:.4g}",
            row.severity,
            str(row.alerts),
            row.action,
            ", ".join(row.events),
        )
    return table
