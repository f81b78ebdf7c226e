"""``monitor__<model>`` DAGs, one per monitoring/<model>.yaml: judge the window, alert, maybe request a retrain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from flywheel.orchestration import assets
from flywheel.orchestration.defaults import flywheel_dag
from flywheel.specs import ModelSpec, MonitorSpec


def window_of(context: dict[str, Any]) -> tuple[datetime, datetime, str]:
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
    schedule = CronDataIntervalTimetable(monitor.schedule, timezone="UTC")
    retrain = assets.retrain_requested(name)
    with flywheel_dag(f"monitor__{name}", schedule=schedule, doc_md=doc, tags=["monitor", name]) as dag:

        @task(retries=0)  # a verdict is recorded once per window; a failure is a bug to look at, not to retry
        def check_window(**context: Any) -> dict[str, Any]:
            from flywheel.jobs.monitor import run_monitor

            start, end, mode = window_of(context)
            return run_monitor(name, (start, end), mode, actor=f"airflow:monitor__{name}")

        @task(retries=3)  # only the routes that failed are retried (the others are in their quiet period)
        def send_alerts(result: dict[str, Any]) -> list[dict[str, str]]:
            from flywheel.jobs.monitor import send_alert

            return send_alert(name, result)

        @task.short_circuit
        def retrain_allowed(result: dict[str, Any]) -> bool:
            return (
                result.get("mode") == "live" and result.get("action") == "retrain" and not result.get("already_judged")
            )

        @task(outlets=[retrain])
        def request_retrain(result: dict[str, Any], **context: Any) -> str:
            context["outlet_events"][retrain].extra = {
                "reason": f"{result['reason']} (window {result['window_start'][:10]} .. {result['window_end'][:10]})",
                "trigger": result.get("trigger_kind"),
                "report": result.get("report_uri"),
            }
            return str(result["reason"])

        result = check_window()
        send_alerts(result)
        request_retrain(result) << retrain_allowed(result)
    return dag
