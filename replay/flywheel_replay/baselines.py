"""What a user would do instead of the loop, replayed on the same rows: the yardsticks of the demo's summary.

* ``never_retrained``: the first champion serves every month (already in ``summary``);
* ``cron_monthly``: a plain monthly cron retrain: before each month, the first champion's pipeline (same
  hyper-parameters, no search, no gate, no canary) is refitted on every labelled row known by then and serves the
  whole month at once;
* ``same_budget_schedule``: the loop's own number of retrains, spent on a calendar: evenly spaced over the replayed
  months, each refit like the cron's and in place at once.

A row is labelled once its event time has passed (the demo publishes labels the same way), so a month's model
never sees that month. Refits run on one thread (threadpoolctl), a few seconds per month.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from flywheel.core.tasks import Metric, task_of
from flywheel.specs import ModelSpec

log = logging.getLogger(__name__)


def schedule(months: list[str], retrains: int) -> list[str]:
    """``retrains`` months spread evenly over ``months`` (the first retrain after the first interval)."""
    if retrains <= 0 or not months:
        return []
    step = len(months) / (retrains + 1)
    picks = sorted({min(len(months) - 1, max(1, round(step * (i + 1)))) for i in range(retrains)})
    return [months[i] for i in picks]


def refit(first_model: Any, history: pd.DataFrame, spec: ModelSpec) -> Any:
    """The first champion's pipeline, unfitted (same hyper-parameters), fitted on ``history`` with one thread.

    A classifier is registered as its tuned pipeline frozen inside a fixed threshold; the scores (what the metric
    reads) come from the pipeline, so the pipeline is what is refitted."""
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator
    from threadpoolctl import threadpool_limits

    inner = getattr(first_model, "estimator", None)
    pipeline = inner.estimator if isinstance(inner, FrozenEstimator) else first_model
    model = clone(pipeline)
    with threadpool_limits(limits=1):
        model.fit(history[spec.features.all], task_of(spec).label(history[spec.source.target_column]))
    return model


def _known_before(snapshot: pd.DataFrame, spec: ModelSpec, month: str) -> pd.DataFrame:
    events = pd.to_datetime(snapshot[spec.source.event_time_column])
    return snapshot[events < pd.Timestamp(f"{month}-01")]


def arms(
    snapshot: pd.DataFrame,
    month_rows: dict[str, pd.DataFrame],
    spec: ModelSpec,
    metric: Metric,
    first_model: Any,
    loop_retrains: int,
    score: Any,
    label: str,
    known_cron: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Per month: the cron's and the same-budget schedule's metric on the month's labelled rows (``month_rows``,
    as the summary scores them, the label in column ``label``). ``score(model, frame)`` is the demo's scoring;
    columns ``cron_monthly`` and ``same_budget_schedule``; ``attrs`` hold each arm's retrain count and schedule.
    ``known_cron``: the cron's figures of an earlier run on the same data (a re-run refits only the calendar's
    months)."""
    known_cron = known_cron or {}
    months = list(month_rows)
    calendar = schedule(months, loop_retrains)
    cron: dict[str, float | None] = {}
    budget: dict[str, float | None] = {}
    scheduled_model = first_model
    for month in months:
        frame = month_rows[month]
        labels = frame[label]
        if month in known_cron and month not in calendar:
            cron[month] = known_cron[month]
        else:
            monthly_model = refit(first_model, _known_before(snapshot, spec, month), spec)
            cron[month] = metric.value(np.asarray(labels, dtype=float), score(monthly_model, frame))
            if month in calendar:
                scheduled_model = monthly_model  # the same refit the cron makes that month
        budget[month] = metric.value(np.asarray(labels, dtype=float), score(scheduled_model, frame))
        log.info("%s %s: cron %s, same budget %s", spec.name, month, cron[month], budget[month])
    result = pd.DataFrame({"cron_monthly": cron, "same_budget_schedule": budget})
    result.attrs.update(cron_retrains=len(months), budget_retrains=len(calendar), schedule=calendar)
    return result
