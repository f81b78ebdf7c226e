"""``train__<model>`` DAGs, one per models/<model>.yaml: train -> register -> gate -> first promotion."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import DAG, task

from flywheel.orchestration import assets
from flywheel.orchestration.defaults import data_time, flywheel_dag, task_workspace
from flywheel.specs import ModelSpec

log = logging.getLogger(__name__)


def training_reason(name: str, context: dict[str, Any]) -> str | None:
    """Why this run trains, or None when it should not: a retrain request (its reason travels in the asset
    event), a person (manual run, reason in the conf), or the first validated data while there is no champion.
    New data alone does not retrain an existing champion: that is the monitor's policy's decision."""
    events = context.get("triggering_asset_events") or {}
    for asset, asset_events in events.items():
        if getattr(asset, "name", "") == assets.retrain_requested(name).name and asset_events:
            return str(asset_events[-1].extra.get("reason", "retrain requested"))
    conf = context["dag_run"].conf or {}
    if not events:
        return str(conf.get("reason", f"manual run ({context['dag_run'].run_type})"))
    from flywheel.jobs.train import has_champion

    return None if has_champion(task_workspace(), name) else "first validated data and no @champion yet"


def requested_strategy(name: str, context: dict[str, Any]) -> str | None:
    """``strategy: full`` in the retrain request's extra or a manual run's conf: train this version in full
    whatever the spec's ``retrain:`` policy would do (a person who distrusts a chain of warm starts)."""
    for asset, asset_events in (context.get("triggering_asset_events") or {}).items():
        if getattr(asset, "name", "") == assets.retrain_requested(name).name and asset_events:
            return asset_events[-1].extra.get("strategy")
    return (context["dag_run"].conf or {}).get("strategy")


def build_train_dag(spec: ModelSpec) -> DAG:
    name = spec.name
    doc = (
        f"Trains `{name}` from `models/{name}.yaml` on the validated mart `marts.{spec.source.mart}`, logs it to "
        "MLflow with its model card and lineage, registers it as `@challenger`, gates it against `@champion` and "
        "the baseline, and makes the first blessed version `@champion`. Runs on a retrain request of the monitor "
        "(the reason is on the MLflow run), by hand, or on new data while there is no champion. Same spec + same "
        "data = no new version."
    )
    schedule = assets.retrain_requested(name) | assets.validated_mart(spec.source.mart)
    with flywheel_dag(f"train__{name}", schedule=schedule, doc_md=doc, tags=["train", name]) as dag:

        @task.short_circuit
        def decide_to_train(**context: Any) -> str | None:
            reason = training_reason(name, context)
            log.info(
                "%s: %s", name, f"training: {reason}" if reason else "not training, the monitor decides retraining"
            )
            return reason

        @task
        def train_model(reason: str, **context: Any) -> str:
            from flywheel.jobs.train import train

            return train(task_workspace(), name, reason=reason, requested=requested_strategy(name, context))

        @task
        def register_model(mlflow_run_id: str) -> str:  # not "run_id": Airflow reserves that name
            from flywheel.jobs.train import register_model

            return register_model(task_workspace(), name, mlflow_run_id)

        @task(outlets=[assets.challenger(name)])
        def gate_model(version: str) -> dict[str, object]:
            from flywheel.jobs.train import gate_model

            return {
                "version": version,
                "blessed": gate_model(task_workspace(), name, version, actor=f"airflow:train__{name}"),
            }

        @task
        def promote_first_champion(verdict: dict[str, object], **context: Any) -> bool:
            from flywheel.jobs.train import promote_first_champion

            if not verdict["blessed"]:
                return False
            return promote_first_champion(
                task_workspace(), name, str(verdict["version"]), f"airflow:train__{name}", data_time(context)
            )

        promote_first_champion(gate_model(register_model(train_model(decide_to_train()))))  # type: ignore[arg-type]  # TaskFlow: an XComArg is the upstream value at run time
    return dag
