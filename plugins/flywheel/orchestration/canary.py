"""``score__<model>`` and ``canary__<model>`` DAGs, one each per models/<model>.yaml."""

from __future__ import annotations

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


def build_canary_dag(spec: ModelSpec) -> DAG:
    name = spec.name
    steps = " -> ".join(f"{s:g} %" for s in spec.canary.steps)
    doc = (
        f"Judges `{name}@challenger` on live traffic ({steps} -> promotion): loads the prediction log, publishes "
        "the labels known by the end of the data interval, then starts the canary of a new blessed challenger, "
        "or advances, promotes, rolls back or waits, writing every decision and its evidence to the ledger."
    )
    with flywheel_dag(f"canary__{name}", schedule="@hourly", doc_md=doc, tags=["canary", name]) as dag:

        @task
        def collect_predictions(**context: Any) -> dict[str, int]:
            from datetime import datetime

            from flywheel.jobs.canary import collect_predictions

            # A replay passes the simulated date in the run's conf: labels are known up to then, not up to today.
            until = (context["dag_run"].conf or {}).get("labels_until")
            labels_until = datetime.fromisoformat(until) if until else context["data_interval_end"]
            return collect_predictions(task_workspace(), name, labels_until)

        @task(retries=0)  # a decision is not retried blindly: the next run judges fresh evidence
        def judge_canary(_: dict[str, int]) -> dict[str, object]:
            from flywheel.jobs.canary import analyse_canary

            return analyse_canary(task_workspace(), name, actor=f"airflow:canary__{name}").to_dict()

        judge_canary(collect_predictions())  # type: ignore[arg-type]  # TaskFlow: an XComArg is the upstream value at run time
    return dag
