"""What the monitor writes to the warehouse, so trends can be charted and the policy can read its past.

* ``ops.monitor_metrics``: one row per model, window and metric (per-feature drift, prediction and target drift,
  quality, shares, severity). A re-run of a window replaces its rows.
* ``ops.monitor_decisions``: one row per model and window: severity, drifted features, the policy's action.
  ``mode`` separates live runs from what-if replays, so trying a policy never changes the live history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from flywheel.data.warehouse import Warehouse, ensure_ops_table

METRICS = "ops.monitor_metrics"
DECISIONS = "ops.monitor_decisions"


def ensure_tables(warehouse: Warehouse) -> None:
    ensure_ops_table(
        warehouse,
        METRICS,
        "model varchar, mode varchar, version varchar, window_start timestamp, window_end timestamp, "
        "metric varchar, subject varchar, value double precision, threshold double precision, flagged boolean, "
        "computed_at timestamp",
    )
    ensure_ops_table(
        warehouse,
        DECISIONS,
        "model varchar, mode varchar, window_start timestamp, window_end timestamp, champion varchar, "
        "severity varchar, drifted varchar, quality_drop double precision, action varchar, trigger_kind varchar, "
        "reason varchar, report_uri varchar, decided_at timestamp",
    )


def write_metrics(
    warehouse: Warehouse,
    model: str,
    mode: str,
    version: str,
    window: tuple[datetime, datetime],
    rows: list[dict[str, Any]],
) -> None:
    frame = pd.DataFrame(rows, columns=["metric", "subject", "value", "threshold", "flagged"])
    frame.insert(0, "window_end", window[1])
    frame.insert(0, "window_start", window[0])
    frame.insert(0, "version", version)
    frame.insert(0, "mode", mode)
    frame.insert(0, "model", model)
    frame["computed_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None)
    warehouse.replace_rows(
        METRICS, frame, "model = ? and mode = ? and window_start = ? and window_end = ?", [model, mode, *window]
    )


def decision_for(warehouse: Warehouse, model: str, mode: str, window_end: datetime) -> dict[str, Any] | None:
    frame = warehouse.query_df(
        f"select * from {DECISIONS} where model = ? and mode = ? and window_end = ?", (model, mode, window_end)
    )
    return None if frame.empty else frame.iloc[0].to_dict()


def record_decision(warehouse: Warehouse, model: str, mode: str, row: dict[str, Any]) -> None:
    frame = pd.DataFrame(
        [{"model": model, "mode": mode, **row, "decided_at": pd.Timestamp.now(tz="UTC").tz_localize(None)}]
    )
    warehouse.replace_rows(
        DECISIONS, frame, "model = ? and mode = ? and window_end = ?", [model, mode, row["window_end"]]
    )


def past(warehouse: Warehouse, model: str, mode: str, before: datetime) -> pd.DataFrame:
    """The windows judged before ``before``, oldest first (one row each, as ``ops.monitor_decisions`` keeps them)."""
    return warehouse.query_df(
        f"select * from {DECISIONS} where model = ? and mode = ? and window_end < ? order by window_end",
        (model, mode, before),
    )


def decisions(warehouse: Warehouse, model: str, mode: str = "live") -> pd.DataFrame:
    ensure_tables(warehouse)
    return warehouse.query_df(
        f"select * from {DECISIONS} where model = ? and mode = ? order by window_end", (model, mode)
    )


def alert_figures(warehouse: Warehouse, model: str, mode: str = "live") -> pd.DataFrame:
    """Per judged window (indexed by its end): the alert's severity, the live primary metric on labels and the
    estimate before them, as the monitor recorded them (columns ``alert``, ``live``, ``estimate``; NaN where none)."""
    ensure_tables(warehouse)
    rows = warehouse.query_df(
        # The patterns are parameters: a literal '%' in the SQL is a placeholder to PostgreSQL's driver.
        f"select window_end, metric, subject, value from {METRICS} where model = ? and mode = ? and "
        "(metric = 'alert_severity' or metric like ? or metric like ?)",
        (model, mode, "quality.%", "quality_estimate.%"),
    )
    figures = pd.DataFrame(index=pd.Index(pd.to_datetime(rows["window_end"]).unique(), name="window_end"))
    for column, found in (
        ("alert", rows[rows["metric"] == "alert_severity"].set_index("window_end")["subject"]),
        ("live", rows[rows["metric"].str.startswith("quality.")].set_index("window_end")["value"]),
        ("estimate", rows[rows["metric"].str.startswith("quality_estimate.")].set_index("window_end")["value"]),
    ):
        found.index = pd.to_datetime(found.index)
        figures[column] = found
    return figures
