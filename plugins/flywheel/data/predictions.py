"""The prediction log and its ground truth in the warehouse.

* ``ops.prediction_log``: append-only, one row per scored record (API or batch), loaded from the service's Parquet
  files once per file (``ops.loaded_prediction_files``).
* ``ops.labels``: ground truth per (model, entity id), published from the model's mart once the outcome is known
  (its event time has passed); the canary joins the two by entity id.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime

import pandas as pd

from flywheel.core.prediction_log import COLUMNS, table_columns
from flywheel.data.warehouse import Warehouse, ensure_ops_table
from flywheel.specs import ModelSpec
from flywheel.storage import Store

log = logging.getLogger(__name__)

PREDICTION_LOG = "ops.prediction_log"
LOADED_FILES = "ops.loaded_prediction_files"
LABELS = "ops.labels"


def ensure_tables(warehouse: Warehouse) -> None:
    ensure_ops_table(
        warehouse,
        PREDICTION_LOG,
        table_columns(("log_file", "varchar")),
    )
    ensure_ops_table(warehouse, LOADED_FILES, "log_file varchar, model varchar, row_count bigint, loaded_at timestamp")
    ensure_ops_table(
        warehouse,
        LABELS,
        "model varchar, entity_id varchar, label double precision, event_time timestamp, published_at timestamp",
    )


def load_prediction_files(model: str, store: Store, warehouse: Warehouse) -> int:
    """Load the service's new log files for ``model``; returns the rows added."""
    ensure_tables(warehouse)
    loaded = {r[0] for r in warehouse.fetch_all(f"select log_file from {LOADED_FILES} where model = ?", (model,))}
    added = 0
    for name in store.list(f"{model}/*.parquet"):
        if name in loaded:
            continue
        frame = pd.read_parquet(io.BytesIO(store.read_bytes(name)))[COLUMNS].assign(log_file=name)
        frame["decision"] = frame["decision"].astype("Int64")
        warehouse.replace_rows(PREDICTION_LOG, frame, "log_file = ?", [name])
        warehouse.execute(
            f"insert into {LOADED_FILES} values (?, ?, ?, ?)",
            (name, model, len(frame), datetime.now(UTC).replace(tzinfo=None)),
        )
        added += len(frame)
    log.info("%s: %d prediction log rows loaded", model, added)
    return added


def publish_labels(spec: ModelSpec, warehouse: Warehouse, until: datetime) -> int:
    """Publish the outcomes of entities whose event time is at or before ``until``; returns the labels added."""
    ensure_tables(warehouse)
    s = spec.source
    before = warehouse.fetch_all(f"select count(*) from {LABELS} where model = ?", (spec.name,))[0][0]
    warehouse.execute(
        f"insert into {LABELS} select ?, cast(m.{s.id_column} as varchar), cast(m.{s.target_column} as double "
        f"precision), cast(m.{s.event_time_column} as timestamp), ? from marts.{s.mart} m "
        f"where m.{s.event_time_column} <= ? and m.{s.target_column} is not null and not exists "
        f"(select 1 from {LABELS} l where l.model = ? and l.entity_id = cast(m.{s.id_column} as varchar))",
        (spec.name, datetime.now(UTC).replace(tzinfo=None), until, spec.name),
    )
    after = warehouse.fetch_all(f"select count(*) from {LABELS} where model = ?", (spec.name,))[0][0]
    log.info("%s: %d labels published (event time <= %s)", spec.name, after - before, until)
    return int(after - before)


def arm_predictions(warehouse: Warehouse, model: str, version: str, arm: str, since: datetime | None) -> pd.DataFrame:
    """Every logged prediction of one arm since ``since``, with its label where one is published."""
    ensure_tables(warehouse)
    return warehouse.query_df(
        f"select p.request_id, p.entity_id, p.score, p.latency_ms, p.status, p.predicted_at, l.label "
        f"from {PREDICTION_LOG} p left join {LABELS} l on l.model = p.model and l.entity_id = p.entity_id "
        "where p.model = ? and p.version = ? and p.arm = ? and p.predicted_at >= ?",
        (model, version, arm, since or datetime(1970, 1, 1)),
    )
