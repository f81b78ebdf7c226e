"""What the demo's loop achieved: live ROC AUC per month against a never-retrained first model, table and chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from flywheel.settings import Settings


def _month_frame(model: str, settings: Settings, month: str) -> pd.DataFrame:
    """The month's labelled bookings with the score the service answered (whichever arm) and the features."""
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


def live_auc_by_month(model: str, settings: Settings, months: list[str], first_version: str = "1") -> pd.DataFrame:
    """Per month: ROC AUC of what the service answered, and of the first model (never retrained) on the same rows."""
    import mlflow
    from sklearn.metrics import roc_auc_score

    from flywheel.monitoring.windows import LABEL, score
    from flywheel.specs import load_spec

    spec = load_spec(settings.models_dir / f"{model}.yaml")
    first = mlflow.sklearn.load_model(f"models:/{model}/{first_version}")
    rows: list[dict[str, Any]] = []
    for month in months:
        frame = _month_frame(model, settings, month)
        frame = frame[frame["served_score"].notna()]
        if frame.empty or frame[LABEL].nunique() < 2:
            continue
        rows.append(
            {
                "month": month,
                "rows": len(frame),
                "live_auc": roc_auc_score(frame[LABEL], frame["served_score"]),
                "first_model_auc": roc_auc_score(frame[LABEL], score(first, frame, spec, "classification")),
            }
        )
    return (
        pd.DataFrame(rows).set_index("month") if rows else pd.DataFrame(columns=["rows", "live_auc", "first_model_auc"])
    )


def print_table(console: Console, rows: list, figures: pd.DataFrame) -> None:
    from flywheel.demo import as_table

    console.print(as_table(rows, figures))
    if not figures.empty:
        live, first = figures["live_auc"].mean(), figures["first_model_auc"].mean()
        console.print(
            f"Mean live ROC AUC over {figures.index[0]} .. {figures.index[-1]}: [bold]{live:.4f}[/bold] "
            f"(looped) vs {first:.4f} (the first model, never retrained, on the same bookings): {live - first:+.4f}"
        )


def save_chart(model: str, settings: Settings, figures: pd.DataFrame) -> Path:
    """A PNG of live ROC AUC by month, next to the never-retrained model; written to the report store."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from flywheel.storage import open_store

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    x = list(figures.index)
    ax.plot(x, figures["live_auc"], marker="o", label="live (champion/challenger as served, retrained by the loop)")
    ax.plot(x, figures["first_model_auc"], marker="s", linestyle="--", label="first model, never retrained")
    ax.set_ylabel("ROC AUC (labelled bookings of the month)")
    ax.set_title(f"{model}: live quality, month by month")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    store = open_store(settings.reports_uri, settings.s3_endpoint_url)
    name = f"{model}/demo/live_auc.png"
    store.write_bytes(name, buffer.getvalue())
    figures.to_csv(csv := io.StringIO())
    store.write_bytes(f"{model}/demo/live_auc.csv", csv.getvalue().encode())
    return Path(store.uri(name)) if "://" not in store.uri(name) else Path(name)
