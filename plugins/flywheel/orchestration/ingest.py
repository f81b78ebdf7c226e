"""The ``ingest`` DAG: landing -> raw for every source with a landing contract."""

from __future__ import annotations

from airflow.sdk import DAG, task

from flywheel.orchestration import assets
from flywheel.orchestration.defaults import flywheel_dag, task_workspace
from flywheel.settings import get_settings

DOC = """
Loads new batch files from the landing store into `raw.*`, once per file content (sha256), archives every file,
and moves files that break their source contract to quarantine with a `reason.json` naming file, column and rule.
Good files load even when others are quarantined; `check_quarantine` then fails the run so somebody looks.
"""


def build_ingest_dag(dag_id: str = "ingest", schedule: str | None = "@hourly") -> DAG:
    raw_assets = assets.raw_tables(get_settings().dbt_project_dir)
    with flywheel_dag(dag_id, schedule=schedule, doc_md=DOC, tags=["ingest"]) as dag:

        @task
        def ingest_landing_files() -> dict[str, list[dict[str, object]]]:
            from flywheel.jobs.ingest import ingest_all

            return {r.table: [o.__dict__ for o in r.outcomes] for r in ingest_all(task_workspace())}

        @task(outlets=raw_assets)
        def publish_new_rows(outcome: dict[str, list[dict[str, object]]]) -> list[str]:
            from airflow.sdk.exceptions import AirflowSkipException

            loaded = [str(o["batch_id"]) for files in outcome.values() for o in files if o["status"] == "loaded"]
            if not loaded:
                # Skipped, not succeeded: no asset event, so transform does not run for nothing.
                raise AirflowSkipException("no new batch loaded")
            return loaded

        @task(retries=0)  # deterministic: a retry would only delay the failure
        def check_quarantine(outcome: dict[str, list[dict[str, object]]]) -> None:
            quarantined = [o for files in outcome.values() for o in files if o["status"] == "quarantined"]
            if quarantined:
                details = "\n".join(f"- {o['file']} -> {o['location']}: {o['reason']}" for o in quarantined)
                raise RuntimeError(f"{len(quarantined)} landed file(s) were quarantined:\n{details}")

        outcome = ingest_landing_files()
        publish_new_rows(outcome)  # type: ignore[arg-type]  # TaskFlow: an XComArg is the upstream value at run time
        check_quarantine(outcome)  # type: ignore[arg-type]  # TaskFlow: an XComArg is the upstream value at run time
    return dag
