"""Batch scoring: every new row of a model's mart is scored with the same routing rule as the service and lands
in the same prediction log (source 'batch')."""

from __future__ import annotations

import logging
import uuid

from flywheel.data import predictions
from flywheel.data.validation import quarantined_batches
from flywheel.serving.app import Predictor
from flywheel.serving.metrics import Metrics
from flywheel.serving.models import ModelPool
from flywheel.serving.prediction_log import write_log_file
from flywheel.serving.schema import as_records
from flywheel.workspace import Workspace

log = logging.getLogger(__name__)

CHUNK = 5000


def score_new_rows(workspace: Workspace, name: str) -> int:
    settings, spec, warehouse = workspace.settings, workspace.spec(name), workspace.warehouse
    predictions.ensure_tables(warehouse)
    s = spec.source
    excluded = quarantined_batches(warehouse, s.mart) or ["-"]
    marks = ", ".join("?" for _ in excluded)
    frame = warehouse.query_df(
        f"select cast({s.id_column} as varchar) as entity_id, {', '.join(spec.features.all)} from marts.{s.mart} m "
        f"where {s.partition_column} not in ({marks}) and not exists (select 1 from {predictions.PREDICTION_LOG} p "
        f"where p.model = ? and p.source = 'batch' and p.entity_id = cast(m.{s.id_column} as varchar))",
        (*excluded, name),
    )
    if frame.empty:
        log.info("%s: no new rows to score", name)
        return 0
    pool = ModelPool(name, settings)
    if pool.refresh().champion is None:  # the first data arrives before the first model: nothing to score with yet
        log.info("%s: no @champion yet; %d new rows wait for the first model", name, len(frame))
        return 0
    predictor = Predictor(spec, pool, writer=None, metrics=Metrics(), source="batch")
    store = workspace.store("predictions")
    records = as_records(spec, frame)
    for start in range(0, len(records), CHUNK):
        predictor.predict(records[start : start + CHUNK], f"batch-{uuid.uuid4().hex}")
        write_log_file(store, name, predictor.log_rows)
        predictor.log_rows = []
    rows = predictions.load_prediction_files(name, store, warehouse)
    log.info("%s: scored %d new rows", name, rows)
    return rows
