"""``train__<model>`` DAGs, one per models/<model>.yaml: train -> register -> gate -> first promotion."""

from __future__ import annotations

from airflow.sdk import DAG, task

from flywheel.orchestration import assets
from flywheel.orchestration.defaults import flywheel_dag
from flywheel.specs import ModelSpec


def build_train_dag(spec: ModelSpec) -> DAG:
    name = spec.name
    doc = (
        f"Trains `{name}` from `models/{name}.yaml` on the validated mart `marts.{spec.source.mart}`, logs it to "
        "MLflow with its model card and lineage, registers it as `@challenger`, gates it against `@champion` and "
        "the baseline, and makes the first blessed version `@champion`. Same spec + same data = no new version."
    )
    schedule = [assets.validated_mart(spec.source.mart)]
    with flywheel_dag(f"train__{name}", schedule=schedule, doc_md=doc, tags=["train", name]) as dag:

        @task
        def train_model() -> str:
            from flywheel.jobs.train import train

            return train(name)

        @task
        def register_model(mlflow_run_id: str) -> str:  # not "run_id": Airflow reserves that name
            from flywheel.jobs.train import register_model

            return register_model(name, mlflow_run_id)

        @task(outlets=[assets.challenger(name)])
        def gate_model(version: str) -> dict[str, object]:
            from flywheel.jobs.train import gate_model

            return {"version": version, "blessed": gate_model(name, version, actor=f"airflow:train__{name}")}

        @task
        def promote_first_champion(verdict: dict[str, object]) -> bool:
            from flywheel.jobs.train import promote_first_champion

            if not verdict["blessed"]:
                return False
            return promote_first_champion(name, str(verdict["version"]), actor=f"airflow:train__{name}")

        promote_first_champion(gate_model(register_model(train_model())))
    return dag
