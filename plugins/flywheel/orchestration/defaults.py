"""What every Flywheel DAG shares: start date, retries, one run at a time, tags and docs; the task's workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG

if TYPE_CHECKING:
    from flywheel.workspace import Workspace

START_DATE = datetime(2026, 1, 1)


def default_args() -> dict[str, Any]:
    """Every task's defaults: one retry, after ``FLYWHEEL_TASK_RETRY_DELAY_SECONDS`` (read when the DAG is parsed)."""
    from flywheel.settings import get_settings

    delay = timedelta(seconds=get_settings().task_retry_delay_seconds)
    return {"owner": "flywheel", "retries": 1, "retry_delay": delay}


def flywheel_dag(dag_id: str, *, schedule: Any, doc_md: str, tags: list[str]) -> DAG:
    """A DAG with Flywheel's defaults; use it as a context manager like ``DAG``."""
    return DAG(
        dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(),
        doc_md=doc_md,
        tags=["flywheel", *tags],
    )


def task_workspace() -> Workspace:
    """The workspace of this task's process (its ``FLYWHEEL_*`` environment): built once per task, inside the task
    body, so parsing a DAG file opens nothing."""
    from flywheel.workspace import Workspace

    return Workspace.from_environment()


def data_time(context: Any) -> datetime:
    """The one clock of the canary's time rules (bake, deadline) and of the labels known: the time of the data
    judged. The run's data interval end (in production: now, to the hour); a replay passes its replayed time in the
    run's conf (``as_of``)."""
    conf = context["dag_run"].conf or {}
    as_of = conf.get("as_of") or conf.get("labels_until")  # labels_until: the name before one clock
    if as_of:
        return datetime.fromisoformat(as_of)
    return context.get("data_interval_end") or datetime.now(UTC)  # an Asset-triggered run has no interval
