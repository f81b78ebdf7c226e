"""How evenly a binary classifier's decision treats the spec's segments, on the holdout: per segment value its
selection rate (share flagged), false positive rate and false negative rate, each against the best value of the
same segment column (Fairlearn's ``MetricFrame``). The model card shows it; ``gates.max_disparity`` can refuse a
version whose largest gap is over the limit.

Only values with at least ``gates.min_segment_rows`` holdout rows count: a rate on a handful of rows is noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RATES = ("selection_rate", "false_positive_rate", "false_negative_rate")
GAPPED = ("false_positive_rate", "false_negative_rate")  # errors: a gap is a group treated worse


@dataclass(frozen=True)
class Disparity:
    table: pd.DataFrame  # segment, value, rows, the three rates, fpr_gap, fnr_gap (to the column's best)
    largest_gap: float | None  # over values with enough rows; None when no column has two such values
    where: str  # the largest gap in words, for the card and the gate's reason


def decision_disparity(
    frame: pd.DataFrame, segments: tuple[str, ...], y_true: np.ndarray, flagged: np.ndarray, min_rows: int
) -> Disparity:
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )

    metrics = {
        "rows": count,
        "selection_rate": selection_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
    }
    y, decided = np.asarray(y_true).astype(int), np.asarray(flagged).astype(int)
    parts = []
    for column in segments:
        by_group = MetricFrame(
            metrics=metrics, y_true=y, y_pred=decided, sensitive_features=frame[column].astype(str).to_numpy()
        ).by_group
        table = by_group.reset_index(names="value").assign(segment=column)
        judged = table["rows"] >= min_rows
        for rate, gap in zip(GAPPED, ("fpr_gap", "fnr_gap"), strict=True):
            best = table.loc[judged, rate].min()
            table[gap] = np.where(judged, table[rate] - best, np.nan)
        parts.append(table)
    table = pd.concat(parts, ignore_index=True)[["segment", "value", "rows", *RATES, "fpr_gap", "fnr_gap"]]
    worst: tuple[float, str, int] | None = None  # (gap, rate, row index)
    for rate, gap in zip(GAPPED, ("fpr_gap", "fnr_gap"), strict=True):
        if table[gap].notna().any() and (worst is None or table[gap].max() > worst[0]):
            worst = (float(table[gap].max()), rate, int(table[gap].idxmax()))
    if worst is None:
        return Disparity(table, None, "no segment column has two values with enough rows")
    largest, rate, index = worst
    row = table.loc[index]
    peers = table[(table["segment"] == row["segment"]) & (table["rows"] >= min_rows)]
    best = peers.loc[peers[rate].idxmin()]
    where = (
        f"{row['segment']}={row['value']}: {rate.replace('_', ' ')} {row[rate]:.3f} against {best[rate]:.3f} "
        f"({row['segment']}={best['value']}), a gap of {largest:.3f}"
    )
    return Disparity(table, largest, where)
