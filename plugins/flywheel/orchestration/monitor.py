"""``monitor__<model>`` DAGs, one per monitoring/<model>.yaml: judge the window, alert, maybe request a retrain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from flywheel.orchestration import assets
from flywheel.orchestration.defaults import flywheel_dag, task_workspace
from flywheel.specs import ModelSpec, MonitorSpec


def window_of(context: dict[str, Any]) -> tuple[datetime, datetime, Literal["live", "what_if"]]:
    """The run's data interval (a backfill of past windows gets theirs), or ``window_start``/``window_end`` from
    the conf; ``what_if: true`` in the conf makes it a replay that sends and requests nothing."""
    conf = context["dag_run"].conf or {}
    start = datetime.fromisoformat(conf["window_start"]) if "window_start" in conf else context["data_interval_start"]
    end = datetime.fromisoformat(conf["window_end"]) if "window_end" in conf else context["data_interval_end"]
    return start, end, "what_if" if conf.get("what_if") else "live"


def build_monitor_dag(spec: ModelSpec, monitor: MonitorSpec) -> DAG:
    name = spec.name
    doc = (
        f"Judges the window that just ended (schedule `{monitor.schedule}`) for `{name}@champion`: Evidently "
        "report (data, prediction and target drift, quality once labels exist) in the report store, figures in "
        "`ops.monitor_metrics`, an alert packet to the routes of `monitoring/{name}.yaml`, and a retrain request "
        f"(the `{name}/retrain` asset, reason in the event) when the policy and its guards allow. Backfill it with "
        '`{"what_if": true}` as run conf to see what a policy would have done (docs/monitoring.md).'
    )
    # The window sets the schedule (monitoring/<model>.yaml `window`: day, week, month; a window of rows is
    # checked daily and judged once it holds its rows).
    schedule = CronDataIntervalTimetable(monitor.schedule, timezone="UTC")
    retrain = assets.retrain_requested(name)
    with flywheel_dag(f"monitor__{name}", schedule=schedule, doc_md=doc, tags=["monitor", name]) as dag:
        # The result crosses XCom as JSON and is parsed back into its type by each task that reads it.
        @task(retries=0)  # a verdict is recorded once per window; a failure is a bug to look at, not to retry
        def check_window(**context: Any) -> dict[str, Any]:
            from flywheel.jobs.monitor import run_monitor

            start, end, mode = window_of(context)
            rows_window = monitor.rows_window
            if rows_window is not None and "window_start" not in (context["dag_run"].conf or {}):
                from airflow.exceptions import AirflowSkipException

                from flywheel.jobs.monitor import open_rows_window

                start, seen = open_rows_window(task_workspace(), name, end)
                if not rows_window.closes(seen, start, end):
                    raise AirflowSkipException(
                        f"window open since {start:%Y-%m-%d %H:%M}: {seen} of {rows_window.rows} rows "
                        f"(judged at {rows_window.rows} rows or after {rows_window.max_days:g} days)"
                    )
            return run_monitor(task_workspace(), name, (start, end), mode, actor=f"airflow:monitor__{name}").model_dump(
                mode="json"
            )

        @task(retries=3)  # only the routes that failed are retried (the others are in their quiet period)
        def send_alerts(result: dict[str, Any]) -> list[dict[str, str]]:
            from dataclasses import asdict

            from flywheel.decisions.monitor_result import MonitorResult
            from flywheel.jobs.monitor import send_alert

            deliveries = send_alert(task_workspace(), MonitorResult.model_validate(result))
            return [asdict(d) for d in deliveries]

        @task.short_circuit
        def retrain_allowed(result: dict[str, Any]) -> bool:
            from flywheel.decisions.monitor_result import MonitorResult

            return MonitorResult.model_validate(result).requests_retrain

        @task(outlets=[retrain])
        def request_retrain(result: dict[str, Any], **context: Any) -> str:
            from flywheel.decisions.monitor_result import MonitorResult

            decided = MonitorResult.model_validate(result)
            window = f"window {decided.window_start:%Y-%m-%d} .. {decided.window_end:%Y-%m-%d}"
            context["outlet_events"][retrain].extra = {
                "reason": f"{decided.reason} ({window})",
                "trigger": decided.trigger_kind,
                "report": decided.report_uri,
            }
            return decided.reason

        result = check_window()
        send_alerts(result)  # type: ignore[arg-type]  # TaskFlow: an XComArg is the upstream value at run time
        request_retrain(result) << retrain_allowed(result)  # type: ignore[arg-type]  # TaskFlow: an XComArg is the upstream value at run time
    return dag
