"""``score__<model>`` and ``canary__<model>`` DAGs, one each per models/<model>.yaml."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, task

from flywheel.orchestration import assets
from flywheel.orchestration.defaults import data_time, flywheel_dag, task_workspace
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

        step = judge_canary(collect_predictions())  # type: ignore[arg-type]  # TaskFlow: an XComArg is the upstream value at run time
        if spec.canary.approval.required:
            ask_for_approval(spec, step)
    return dag


def ask_for_approval(spec: ModelSpec, step: Any) -> None:
    """After ``judge_canary``: when it asks for approval, a human-in-the-loop task shows its request in Airflow's UI
    (Required actions) and REST API and waits; ``settle_approval`` promotes or rolls back as the person answered
    (or as the policy says when nobody did in time)."""
    from airflow.providers.standard.operators.hitl import HITLOperator
    from airflow.sdk import Param

    from flywheel.decisions import approval

    name, policy = spec.name, spec.canary.approval

    @task.short_circuit
    def approval_needed(judged: dict[str, Any]) -> bool:
        return judged["action"] == "await_approval"

    request = "ti.xcom_pull(task_ids='judge_canary')['approval']"
    ask = HITLOperator(
        task_id="approve_promotion",
        subject="{{ " + request + "['subject'] }}",
        body="{{ " + request + "['body'] }}",
        options=list(approval.OPTIONS),
        defaults=approval.default_options(policy),
        response_timeout=timedelta(hours=policy.timeout_hours),
        params={"reason": Param("", type="string", description="why: written to the model ledger")},
        assigned_users=[{"id": user, "name": user} for user in policy.approvers] or None,
        retries=0,
    )

    @task(retries=0)
    def settle_approval(judged: dict[str, Any], answer: dict[str, Any], **context: Any) -> str:
        from flywheel.jobs.approval import settle_approval

        user = answer.get("responded_by_user") or {}
        said = approval.ApprovalAnswer(
            tuple(answer["chosen_options"]),
            str((answer.get("params_input") or {}).get("reason") or ""),
            (user.get("name") or user.get("id")) if user else None,
        )
        return settle_approval(task_workspace(), name, str(judged["version"]), said, data_time(context))

    approval_needed(step) >> ask
    settle_approval(step, ask.output)  # type: ignore[arg-type]  # TaskFlow: an XComArg is the value at run time
