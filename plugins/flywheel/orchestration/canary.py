"""``score__<model>`` and ``canary__<model>`` DAGs, one each per models/<model>.yaml."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from flywheel.orchestration import assets
from flywheel.orchestration.defaults import flywheel_dag, task_workspace
from flywheel.specs import ModelSpec


def build_score_dag(spec: ModelSpec) -> DAG:
    name = spec.name
    doc = (
        f"Scores new rows of `marts.{spec.source.mart}` with `{name}`'s champion and challenger, routed by the "
        "same stable hash of the entity id as the prediction service, into the same prediction log."
    )
    with flywheel_dag(
        f"score__{name}", schedule=[assets.validated_mart(spec.source.mart)], doc_md=doc, tags=["score", name]
    ) as dag:

        @task
        def score_new_rows() -> int:
            from flywheel.jobs.score import score_new_rows

            return score_new_rows(task_workspace(), name)

        score_new_rows()
    return dag


def data_time(context: Any) -> datetime:
    """The one clock of the canary's time rules (bake, deadline) and of the labels known: the time of the data
    judged. The run's data interval end (in production: now, to the hour); a replay passes its replayed time in the
    run's conf (``as_of``)."""
    conf = context["dag_run"].conf or {}
    as_of = conf.get("as_of") or conf.get("labels_until")  # labels_until: the name before one clock
    return datetime.fromisoformat(as_of) if as_of else context["data_interval_end"]


def build_canary_dag(spec: ModelSpec) -> DAG:
    name = spec.name
    steps = " -> ".join(spec.canary.stage_label(i) for i in range(len(spec.canary.stages)))
    doc = (
        f"Judges `{name}@challenger` on live traffic ({steps} -> promotion): loads the prediction log, publishes "
        "the labels known by the end of the data interval (a replay's conf `as_of`: its replayed time), then "
        "starts the canary of a new blessed challenger, "
        "or advances, promotes, rolls back or waits, writing every decision and its evidence to the ledger."
    )
    with flywheel_dag(f"canary__{name}", schedule="@hourly", doc_md=doc, tags=["canary", name]) as dag:

        @task
        def collect_predictions(**context: Any) -> dict[str, int]:
            from flywheel.jobs.canary import collect_predictions

            return collect_predictions(task_workspace(), name, data_time(context))

        @task(retries=0)  # a decision is not retried blindly: the next run judges fresh evidence
        def judge_canary(_: dict[str, int], **context: Any) -> dict[str, object]:
            from flywheel.jobs.canary import analyse_canary

            step = analyse_canary(task_workspace(), name, actor=f"airflow:canary__{name}", now=data_time(context))
            return step.to_dict()

        judge_canary(collect_predictions())  # type: ignore[arg-type]  # TaskFlow: an XComArg is the upstream value at run time
    return dag
