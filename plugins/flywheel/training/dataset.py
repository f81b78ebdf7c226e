"""The training data of a model: its mart minus quarantined batches, a content hash, and a time-aware split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flywheel.data.validation import quarantined_batches
from flywheel.data.warehouse import Warehouse
from flywheel.specs import ModelSpec


@dataclass(frozen=True)
class Snapshot:
    """Exactly the rows a model is trained and evaluated on, with what identifies them."""

    frame: pd.DataFrame
    sha256: str
    first_event: str
    last_event: str
    excluded_batches: tuple[str, ...]


@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    holdout: pd.DataFrame
    folds: list[tuple[np.ndarray, np.ndarray]]  # positional indices into ``train``
    train_months: list[str]
    holdout_months: list[str]
    fold_months: list[tuple[list[str], list[str]]]


def typed_features(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """One dtype per kind, whatever the warehouse returned (nullable ints, decimals): float for numbers, text for
    categories. The model's signature and the serving schema follow from these."""
    frame[list(spec.features.numeric)] = frame[list(spec.features.numeric)].astype("float64")
    for column in spec.features.categorical:
        frame[column] = frame[column].astype("object").where(frame[column].notna(), None)
    frame[spec.source.event_time_column] = pd.to_datetime(frame[spec.source.event_time_column])
    return frame


def load_snapshot(spec: ModelSpec, warehouse: Warehouse) -> Snapshot:
    """Read the spec's columns from its mart, skipping quarantined batches, in a deterministic order."""
    source = spec.source
    excluded = sorted(quarantined_batches(warehouse, source.mart))
    columns = ", ".join(spec.columns)
    frame = warehouse.query_df(f"select {columns} from marts.{source.mart}")
    frame = frame[~frame[source.partition_column].isin(excluded)]
    frame = typed_features(frame.dropna(subset=[source.target_column]), spec)
    frame = frame.sort_values([source.event_time_column, source.id_column], kind="stable").reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"marts.{source.mart} has no labelled rows outside quarantined batches {excluded}")
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    events = frame[source.event_time_column]
    return Snapshot(
        frame=frame,
        sha256=hashlib.sha256(hashed.tobytes()).hexdigest(),
        first_event=events.min().date().isoformat(),
        last_event=events.max().date().isoformat(),
        excluded_batches=tuple(excluded),
    )


def event_months(frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    """Each row's month (YYYY-MM) of its event time: what the split, the fitted months and the gate count in."""
    return pd.to_datetime(frame[spec.source.event_time_column]).dt.strftime("%Y-%m").to_numpy()


def time_split(snapshot: Snapshot, spec: ModelSpec) -> TimeSplit:
    """Holdout = the last ``holdout_months`` months; train = the months before; folds = expanding windows."""
    from sklearn.model_selection import TimeSeriesSplit

    frame = snapshot.frame
    month = pd.Series(event_months(frame, spec), index=frame.index)
    months = sorted(month.unique())
    needed = spec.split.holdout_months + spec.split.cv_folds + 1
    if len(months) < needed:
        raise ValueError(
            f"{spec.name}: {len(months)} months of labelled data ({months[0]}..{months[-1]}), the split needs "
            f"{needed} ({spec.split.holdout_months} holdout + {spec.split.cv_folds} folds + 1 to start)"
        )
    holdout_months = months[-spec.split.holdout_months :]
    train_months = months[: -spec.split.holdout_months]
    if spec.split.train_months:
        train_months = train_months[-spec.split.train_months :]
    train = frame[month.isin(train_months)].reset_index(drop=True)
    holdout = frame[month.isin(holdout_months)].reset_index(drop=True)

    train_month = event_months(train, spec)
    folds, fold_months = [], []
    for fit_idx, val_idx in TimeSeriesSplit(n_splits=spec.split.cv_folds).split(train_months):
        fit_m = [train_months[i] for i in fit_idx]
        val_m = [train_months[i] for i in val_idx]
        folds.append((np.flatnonzero(np.isin(train_month, fit_m)), np.flatnonzero(np.isin(train_month, val_m))))
        fold_months.append((fit_m, val_m))
    return TimeSplit(train, holdout, folds, train_months, holdout_months, fold_months)
