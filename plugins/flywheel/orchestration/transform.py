"""The ``transform`` DAG: dbt build through Cosmos (one task per model and per model's tests), then GX."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, task
from airflow.sdk.definitions.asset import BaseAsset

from flywheel.orchestration import assets
from flywheel.orchestration.defaults import flywheel_dag, task_workspace
from flywheel.settings import Settings, get_settings

if TYPE_CHECKING:
    from cosmos import DbtTaskGroup

DOC = """
Builds the dbt project (`dbt_project/`) on the configured warehouse with one `dbt build` (task `dbt.build`), then one
Airflow task per dbt model (and per test of several models) in dbt's order: its status, its tests and dbt's lines
about it are in its own log, so a failure points at the model and the test (clearing a model's task rebuilds that
model alone; clearing `dbt.build` rebuilds everything). Then validates each new
partition of every mart that has a suite in `expectations/`, right after that mart's own task: a source that
breaks stops its own models, not another model's. A failing partition is quarantined and stops everything
downstream of its mart.
"""


def dbt_task_group(settings: Settings) -> DbtTaskGroup:
    """The dbt project as a Cosmos task group, rendered from the parsed manifest (no dbt call at parse time): one
    `dbt build` task, then a task per node reporting its results (orchestration.dbt_tasks)."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import DbtResourceType, ExecutionMode, LoadMode, SourceRenderingBehavior, TestBehavior

    from flywheel.orchestration.dbt_tasks import add_build_task, node_task

    project = settings.dbt_project_dir
    converted = (
        DbtResourceType.MODEL,
        DbtResourceType.SOURCE,
        DbtResourceType.TEST,
        DbtResourceType.SEED,
        DbtResourceType.SNAPSHOT,
    )
    group = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=project,
            manifest_path=settings.dbt_manifest_path,
            env_vars=settings.dbt_env(),
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="flywheel",
            target_name=settings.dbt_target,
            profiles_yml_filepath=project / "profiles.yml",
        ),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.LOCAL),
        render_config=RenderConfig(
            # The manifest when `flywheel init` has parsed the project, else Cosmos's cached `dbt ls`.
            load_method=LoadMode.AUTOMATIC,
            # One task per model reports it and its tests: as precise as a run task and a test task per model, and
            # half the tasks.
            test_behavior=TestBehavior.BUILD,
            # A test of two models (relationships: ml mart -> fct) gets its own task after both: inside the first
            # model's build it ran before the second table existed, and a fresh warehouse's first run failed.
            should_detach_multiple_parents_tests=True,
            source_rendering_behavior=SourceRenderingBehavior.WITH_TESTS_OR_FRESHNESS,
            emit_datasets=False,  # Flywheel's own Assets (orchestration/assets.py) chain the DAGs
            node_converters=dict.fromkeys(converted, node_task),  # every node reports from the one build
        ),
        operator_args={"install_deps": False},
    )
    add_build_task(group)
    return group


def build_transform_dag(dag_id: str = "transform") -> DAG:
    from flywheel.jobs.validate import suites

    settings = get_settings()
    raw_assets = assets.raw_tables(settings.dbt_project_dir)
    schedule: BaseAsset = raw_assets[0]
    for asset in raw_assets[1:]:
        schedule = schedule | asset  # any raw table with new rows
    with flywheel_dag(dag_id, schedule=schedule, doc_md=DOC, tags=["dbt", "validation"]) as dag:
        dbt = dbt_task_group(settings)
        for mart in suites(settings):
            # No retries: validation is deterministic, and a retry of a failed run must fail the same way.
            @task(task_id=f"validate_{mart}", outlets=[assets.validated_mart(mart)], retries=0)
            def validate(mart: str = mart, **context: Any) -> list[dict[str, object]]:
                from airflow.sdk.exceptions import AirflowSkipException

                from flywheel.jobs.validate import validate_mart

                run_key = f"{context['dag'].dag_id}/{context['run_id']}"
                results = validate_mart(task_workspace(), mart, run_key)
                if not results:
                    # Skipped, not succeeded: no asset event, so nothing downstream (training the mart's model)
                    # runs for a mart that got no new partition, e.g. another source's batch arrived.
                    raise AirflowSkipException(f"marts.{mart}: no new partition to validate")
                return [
                    {"batch_id": r.batch_id, "rows": r.rows, "success": r.success, "result": r.result_uri}
                    for r in results
                ]

            built = dag.task_dict.get(f"{dbt.group_id}.{mart}_model_build")
            if built is None:
                raise ValueError(f"expectations/{mart}.json guards marts.{mart}, but dbt_project has no model {mart}")
            validating = validate()
            built >> validating
            # Tests of the mart with another model (detached above) must pass too before it counts as validated.
            for downstream in built.downstream_list:
                if downstream.task_id.endswith("_test"):
                    downstream >> validating
    return dag
