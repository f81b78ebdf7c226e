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

from flywheel.core.prediction_log import ADDED, COLUMNS, table_columns
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
    for column, kind in ADDED.items():  # a log table created before the column existed
        warehouse.execute(f"alter table {PREDICTION_LOG} add column if not exists {column} {kind}")
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
        frame = pd.read_parquet(io.BytesIO(store.read_bytes(name)))
        frame = frame.reindex(columns=COLUMNS).assign(log_file=name)  # a file from before a column was added
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
    label = _label_sql(spec, f"m.{s.target_column}")
    warehouse.execute(
        f"insert into {LABELS} select ?, cast(m.{s.id_column} as varchar), {label}"
        f", cast(m.{s.event_time_column} as timestamp), ? from marts.{s.mart} m "
        f"where m.{s.event_time_column} <= ? and {label} is not null and not exists "
        f"(select 1 from {LABELS} l where l.model = ? and l.entity_id = cast(m.{s.id_column} as varchar))",
        (spec.name, datetime.now(UTC).replace(tzinfo=None), until, spec.name),
    )
    after = warehouse.fetch_all(f"select count(*) from {LABELS} where model = ?", (spec.name,))[0][0]
    log.info("%s: %d labels published (event time <= %s)", spec.name, after - before, until)
    return int(after - before)


def _label_sql(spec: ModelSpec, column: str) -> str:
    """The label as the labels table keeps it, a number: the value itself, or a multiclass label's class index in
    the spec's order (flywheel.core.multiclass; a value outside the classes stays null and is not published)."""
    if not spec.classes:
        return f"cast({column} as double precision)"
    cases = " ".join(f"when {_quoted(name)} then {i}" for i, name in enumerate(spec.classes))
    return f"cast(case cast({column} as varchar) {cases} end as double precision)"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def arm_predictions(warehouse: Warehouse, model: str, version: str, arm: str, since: datetime | None) -> pd.DataFrame:
    """Every logged prediction of one arm since ``since``, with its label where one is published; a multiclass
    model's ``score`` is its row of class probabilities (flywheel.core.multiclass)."""
    ensure_tables(warehouse)
    frame = warehouse.query_df(
        f"select p.request_id, p.entity_id, p.score, p.class_scores, p.latency_ms, p.status, p.predicted_at, l.label "
        f"from {PREDICTION_LOG} p left join {LABELS} l on l.model = p.model and l.entity_id = p.entity_id "
        "where p.model = ? and p.version = ? and p.arm = ? and p.predicted_at >= ?",
        (model, version, arm, since or datetime(1970, 1, 1)),
    )
    return with_class_scores(frame)


def logged_scores(warehouse: Warehouse, model: str, version: str | None = None, source: str | None = None) -> pd.Series:
    """Each entity's logged score (answered rows only; the mean if it was scored twice), by entity id: a float, or a
    multiclass model's list of class probabilities. Optionally of one version, or one source (api, batch)."""
    ensure_tables(warehouse)
    filters, params = ["model = ?", "status = 'ok'"], [model]
    for column, value in (("version", version), ("source", source)):
        if value is not None:
            filters.append(f"{column} = ?")
            params.append(value)
    frame = warehouse.query_df(
        f"select entity_id, avg(score) as score, max(class_scores) as class_scores from {PREDICTION_LOG} "
        f"where {' and '.join(filters)} group by entity_id",
        params,
    )
    return with_class_scores(frame).set_index("entity_id")["score"]


def with_class_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """``score`` as the probabilities of every class where the log has them (a multiclass model), else as is."""
    import json

    if "class_scores" not in frame:
        return frame
    if frame["class_scores"].notna().any():
        rows = [
            json.loads(c) if isinstance(c, str) else s
            for s, c in zip(frame["score"], frame["class_scores"], strict=True)
        ]
        frame = frame.assign(score=pd.Series(rows, index=frame.index, dtype=object))
    return frame.drop(columns="class_scores")
