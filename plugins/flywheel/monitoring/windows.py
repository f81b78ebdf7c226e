"""The two sides of a drift check, read from the warehouse.

* reference: the champion's training window (its run's ``flywheel.data_first_event`` .. ``data_last_event``,
  minus the batches it excluded), optionally only the same calendar months as the current window (seasonal data),
  scored by the champion;
* current: the mart rows whose event time falls in the window (the new partitions), with the prediction the
  champion logged for each entity (the prediction log) and the labels published so far. Entities the log does not
  have a champion score for (answered by the challenger, or not requested) are scored with the champion here, so
  prediction drift always compares the same model's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from flywheel.core.multiclass import class_index, score_rows
from flywheel.core.tasks import task_of
from flywheel.data import predictions
from flywheel.data.validation import quarantined_batches
from flywheel.data.warehouse import Warehouse
from flywheel.monitoring.evidently_report import PREDICTION, PROBABILITIES
from flywheel.specs import ModelSpec, MonitorSpec
from flywheel.training.dataset import typed_features

LABEL = "label"


@dataclass(frozen=True)
class Windows:
    reference: pd.DataFrame
    current: pd.DataFrame
    reference_description: str
    logged_predictions: int  # current rows whose prediction came from the prediction log
    labelled_rows: int


def _mart_rows(
    spec: ModelSpec, warehouse: Warehouse, start: datetime, end: datetime, inclusive_end: bool
) -> pd.DataFrame:
    s = spec.source
    excluded = quarantined_batches(warehouse, s.mart) or ["-"]
    marks = ", ".join("?" for _ in excluded)
    op = "<=" if inclusive_end else "<"
    frame = warehouse.query_df(
        f"select {', '.join(spec.columns)} from marts.{s.mart} where {s.event_time_column} >= ? "
        f"and {s.event_time_column} {op} ? and {s.partition_column} not in ({marks}) "
        f"order by {s.event_time_column}, {s.id_column}",
        (start, end, *excluded),
    )
    return typed_features(frame, spec)


def _months(start: datetime, end: datetime) -> set[int]:
    return {p.month for p in pd.period_range(start, end - pd.Timedelta(seconds=1), freq="M")}


def reference_rows(
    spec: ModelSpec,
    monitor: MonitorSpec,
    warehouse: Warehouse,
    first: str,
    last: str,
    window: tuple[datetime, datetime],
) -> tuple[pd.DataFrame, str]:
    frame = _mart_rows(spec, warehouse, datetime.fromisoformat(first), datetime.fromisoformat(last), True)
    description = f"training window {first} .. {last}"
    if monitor.drift.reference == "same_months":
        months = _months(*window)
        seasonal = frame[frame[spec.source.event_time_column].dt.month.isin(months)]
        if len(seasonal) >= monitor.drift.min_rows:
            frame = seasonal
            description += f", same calendar months ({', '.join(f'{m:02d}' for m in sorted(months))})"
        else:
            description += f" (same months have {len(seasonal):,} rows < {monitor.drift.min_rows:,}: whole window)"
    if len(frame) > monitor.drift.reference_max_rows:
        frame = frame.sample(monitor.drift.reference_max_rows, random_state=0).sort_index()
        description += f", a fixed sample of {monitor.drift.reference_max_rows:,} rows"
    return frame.reset_index(drop=True), description


def current_rows(
    spec: ModelSpec, warehouse: Warehouse, model: str, champion: str, window: tuple[datetime, datetime]
) -> pd.DataFrame:
    frame = _mart_rows(spec, warehouse, window[0], window[1], False)
    logged = predictions.logged_scores(warehouse, model, version=champion)
    labels = warehouse.query_df(
        f"select entity_id, max(label) as {LABEL} from {predictions.LABELS} where model = ? group by entity_id",
        (model,),
    )
    ids = frame[spec.source.id_column].astype(str)
    frame["logged_score"] = ids.map(logged)
    if not spec.classes:
        frame["logged_score"] = frame["logged_score"].astype("float64")
    frame[LABEL] = ids.map(labels.set_index("entity_id")[LABEL]).astype("float64")
    return frame


def score(model: object, frame: pd.DataFrame, spec: ModelSpec) -> pd.Series:
    """The model's score per row, as the service answers it (flywheel.core.tasks): a float, or a multiclass
    model's list of class probabilities."""
    scores = score_rows(task_of(spec).score(model, frame[spec.features.all]))
    return pd.Series(scores, index=frame.index, dtype=object if spec.classes else "float64")


def with_decided_class(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """A multiclass window: the class probabilities move to ``class_probabilities`` and ``prediction`` becomes the
    decided class's name (the task's decision: the value matrix's, or the most probable class)."""
    task = task_of(spec)
    probabilities = frame[PREDICTION]
    decided = task.decided_classes(probabilities.tolist())
    return frame.assign(
        **{PROBABILITIES: probabilities, PREDICTION: pd.Series([task.classes[d] for d in decided], index=frame.index)}
    )


def load_windows(
    spec: ModelSpec,
    monitor: MonitorSpec,
    warehouse: Warehouse,
    champion: str,
    champion_model: object,
    data_window: tuple[str, str],
    window: tuple[datetime, datetime],
) -> Windows:
    reference, description = reference_rows(spec, monitor, warehouse, *data_window, window)
    current = current_rows(spec, warehouse, spec.name, champion, window)
    if not reference.empty:
        reference[PREDICTION] = score(champion_model, reference, spec)
        target = spec.source.target_column
        labels = reference[target]
        reference[LABEL] = class_index(labels, spec.classes, target) if spec.classes else labels.astype("float64")
    # A window without rows still has the column.
    current[PREDICTION] = current["logged_score"] if spec.classes else current["logged_score"].astype("float64")
    rescored = current["logged_score"].isna()
    if rescored.any() and spec.classes:  # lists of probabilities: no vectorised assignment into an object column
        fresh = score(champion_model, current[rescored], spec)
        paired = zip(current.index, rescored, current[PREDICTION], strict=True)
        current[PREDICTION] = [fresh[i] if r else v for i, r, v in paired]
    elif rescored.any():
        current.loc[rescored, PREDICTION] = score(champion_model, current[rescored], spec)
    if spec.classes:
        reference = with_decided_class(reference, spec) if PREDICTION in reference else reference
        current = with_decided_class(current, spec)
    return Windows(
        reference,
        current,
        description,
        logged_predictions=int(current["logged_score"].notna().sum()) if not current.empty else 0,
        labelled_rows=int(current[LABEL].notna().sum()) if not current.empty else 0,
    )
