"""What one monitor run judges (``window`` in ``monitoring/<model>.yaml``), and the schedule that follows from it.

A calendar window (``day``, ``week``, ``month``) is the schedule's data interval: each run judges the period that
just ended. A window of rows (``{rows: N}``) suits a model whose traffic is too thin for calendar windows: the
monitor checks daily and judges once N rows have arrived since the last judged window, or once ``max_days`` have
passed (then it is judged with what there is, and ``unmonitored`` counts it if that is too few for a verdict).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from flywheel.specs.strict import Strict

Calendar = Literal["day", "week", "month"]

CALENDAR_SCHEDULES: dict[str, str] = {"day": "0 0 * * *", "week": "0 0 * * 1", "month": "0 0 1 * *"}
ROWS_CHECK_SCHEDULE = "0 0 * * *"  # a window of rows is checked daily


class RowsWindowSpec(Strict):
    rows: int = Field(ge=20, description="a window closes once this many rows arrived since the last judged one")
    max_days: float = Field(default=31, gt=0, description="... or after this many days, whichever comes first")

    def closes(self, rows_seen: int, opened: datetime, now: datetime) -> bool:
        """Whether the window open since ``opened`` is judged now: enough rows, or open long enough."""
        return rows_seen >= self.rows or (now - opened) >= timedelta(days=self.max_days)


Window = Calendar | RowsWindowSpec


def schedule_for(window: Window | None, schedule: str | None, where: str) -> str:
    """The monitor DAG's cron: the window's, or the file's own ``schedule`` (then the window is its interval).
    Both given and different is an error that names the fields (``where``: the file)."""
    if window is None:
        return schedule or CALENDAR_SCHEDULES["month"]
    derived = ROWS_CHECK_SCHEDULE if isinstance(window, RowsWindowSpec) else CALENDAR_SCHEDULES[window]
    if schedule is not None and schedule != derived:
        shown = window if isinstance(window, str) else f"{{rows: {window.rows}}}"
        raise ValueError(
            f"{where}: schedule {schedule!r} contradicts window {shown} (whose schedule is {derived!r}): remove "
            "'schedule' and let the window set it, or remove 'window' to judge each cron interval"
        )
    return derived


def with_schedule(data: Any) -> Any:
    """``MonitorSpec``'s raw document with ``schedule`` resolved from ``window`` (a validator run before fields)."""
    if not isinstance(data, dict) or data.get("window") is None:
        return data
    raw = data["window"]
    window = RowsWindowSpec.model_validate(raw) if isinstance(raw, dict) else raw
    if isinstance(window, str) and window not in CALENDAR_SCHEDULES:
        return data  # the field's own validation names the allowed values
    where = f"monitoring/{data.get('name', '<model>')}.yaml"
    return {**data, "schedule": schedule_for(window, data.get("schedule"), where)}


def cron_expression(value: str) -> str:
    """``MonitorSpec.schedule``'s rule: a cron expression Airflow can schedule (a validator)."""
    from croniter import croniter  # type: ignore[import-untyped]

    if not croniter.is_valid(value):
        raise ValueError(
            f"{value!r} is not a cron expression: five fields (minute hour day-of-month month day-of-week, "
            "e.g. '0 6 * * 1') or a preset such as @daily"
        )
    return value
