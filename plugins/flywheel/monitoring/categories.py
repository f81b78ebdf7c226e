"""Categories that appeared, vanished or collapsed in a window: reported whatever the window's size.

The Jensen-Shannon verdict (``flywheel.monitoring.drift``) needs ``drift.min_rows`` rows and weighs every share
together, so a small model's windows get no verdict at all and a new or lost category can hide in a long tail.
These checks are exact for any size: a category with reference share p is missing from n rows by chance with
probability (1 - p)^n, and shows k rows or fewer with the binomial probability; a change is reported only when
chance explains it less than once in ``1 / LEVEL`` windows (a 30-row window reports a vanished category of 21 % or more,
a 1,000-row one of 0.7 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd
from scipy import stats

LEVEL = 0.001  # the chance of a reported change when nothing changed, per category and window
COLLAPSE = 0.2  # a share that fell to a fifth of the reference's or less
MIN_NEW_ROWS = 3  # a category unseen in the reference, seen at least this often
MAX_REPORTED = 10  # per column, largest first


@dataclass(frozen=True)
class CategoryChange:
    column: str
    category: str
    change: Literal["appeared", "vanished", "collapsed"]
    reference_share: float
    current_share: float
    current_rows: int


def category_changes(reference: pd.Series, current: pd.Series, column: str) -> list[CategoryChange]:
    """What appeared, vanished or collapsed in ``current`` against ``reference`` (missing values are not a
    category: their share is reported with the drift verdict)."""
    r, c = reference.dropna().astype(str), current.dropna().astype(str)
    if r.empty or c.empty:
        return []
    r_shares, c_counts = r.value_counts(normalize=True), c.value_counts()
    n = len(c)
    found: list[CategoryChange] = []
    for category, count in c_counts.items():
        if category not in r_shares.index and count >= MIN_NEW_ROWS:
            found.append(CategoryChange(column, str(category), "appeared", 0.0, round(count / n, 6), n))
    for category, share in r_shares.items():
        count = int(c_counts.get(category, 0))
        if count / n > share * COLLAPSE or stats.binom.cdf(count, n, share) >= LEVEL:
            continue
        change: Literal["vanished", "collapsed"] = "vanished" if count == 0 else "collapsed"
        found.append(CategoryChange(column, str(category), change, round(float(share), 6), round(count / n, 6), n))
    found.sort(key=lambda f: abs(f.current_share - f.reference_share), reverse=True)
    return found[:MAX_REPORTED]


def window_category_changes(
    reference: pd.DataFrame, current: pd.DataFrame, categorical: list[str]
) -> list[CategoryChange]:
    return [
        change
        for column in categorical
        if column in reference and column in current
        for change in category_changes(reference[column], current[column], column)
    ]
