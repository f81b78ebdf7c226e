"""The transform's dbt tasks: one `dbt build` (``dbt.build``) and one reporting task per dbt node, rendered by
Cosmos from the manifest (its task ids, its dependencies, its detached multi-parent tests). jobs.dbt_build says why
the build runs once."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseOperator

log = logging.getLogger(__name__)

BUILD_TASK_ID = "build"  # inside the "dbt" task group: dbt.build


class DbtBuildOperator(BaseOperator):
    """Runs `dbt build` on the whole project once; every node's result goes to XCom for the node tasks."""

    ui_color = "#f58442"

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from flywheel.jobs.dbt_build import run_build
        from flywheel.settings import get_settings

        return [r.to_dict() for r in run_build(get_settings())]


class DbtNodeOperator(BaseOperator):
    """One dbt node's task: its results from ``dbt.build`` with dbt's own lines in this task's log; fails naming
    the node and the failing test. A retry (``try_number`` > 1) builds the node again on its own."""

    ui_color = "#ffa66b"

    def __init__(self, *, node_id: str, node_name: str, resource_type: str, build_task_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.dbt_node_id, self.dbt_node_name, self.resource_type = node_id, node_name, resource_type
        self.build_task_id = build_task_id

    def execute(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowException

        from flywheel.jobs.dbt_build import NodeResult, failure_message, results_for, run_build, selector
        from flywheel.settings import get_settings

        ti = context["ti"]
        if ti.try_number > 1:
            log.info("try %d: building %s again on its own", ti.try_number, self.dbt_node_id)
            built = run_build(get_settings(), selector(self.dbt_node_id, self.resource_type, self.dbt_node_name))
        else:
            built = [NodeResult.from_dict(r) for r in ti.xcom_pull(task_ids=self.build_task_id) or []]
        mine = results_for(self.dbt_node_id, built)
        for result in mine:
            log.info(
                "%s %s: %s in %.2f s%s",
                result.resource_type,
                result.name,
                result.status,
                result.seconds,
                f" ({result.message})" if result.message else "",
            )
            for line in result.log:
                log.info("  dbt: %s", line)
        problem = failure_message(self.dbt_node_name, mine)
        if problem:
            raise AirflowException(problem)
        if not mine and self.resource_type != "source":  # a source's task reports its tests only
            raise AirflowException(f"dbt {self.dbt_node_name}: the build has no result for {self.dbt_node_id}")


def node_task(
    *, dag: Any, task_group: Any, node: Any, task_id: str, detached_from_parent: Any = None, **_: Any
) -> DbtNodeOperator:
    """Cosmos' node converter (RenderConfig.node_converters): a DbtNodeOperator where Cosmos would start dbt."""
    detached_test = task_id.endswith("_test")
    if detached_test:
        # A test of several nodes (rendered detached): Cosmos 1.15.1 passes the last node it rendered as ``node``
        # here, not the test; the test is the detached one its task id names.
        tests = {
            f"{t.resource_name.split('.')[0]}_test": t for group in (detached_from_parent or {}).values() for t in group
        }
        if task_id not in tests:
            raise ValueError(f"dbt task {task_id}: no detached test of that name among {sorted(tests)}")
        node = tests[task_id]
    group_id = getattr(task_group, "group_id", None)
    return DbtNodeOperator(
        task_id=task_id,
        # Its first try only reads the build's results, which a retry would read again: no automatic retry. A
        # person clears it after a fix, and that try builds the node again (a transient failure of dbt itself is
        # the build task's, which retries).
        retries=0,
        dag=dag,
        task_group=task_group,
        node_id=node.unique_id,
        node_name=node.resource_name.split(".")[0] if detached_test else node.name,  # dbt's name
        resource_type=str(getattr(node.resource_type, "value", node.resource_type)),
        build_task_id=f"{group_id}.{BUILD_TASK_ID}" if group_id else BUILD_TASK_ID,
    )


def add_build_task(group: Any) -> DbtBuildOperator:
    """``dbt.build`` upstream of every node task of ``group`` that has no upstream inside it."""
    from airflow.sdk import TaskGroup

    tasks = [t for t in group.children.values() if not isinstance(t, TaskGroup)]
    build = DbtBuildOperator(task_id=BUILD_TASK_ID, task_group=group, dag=tasks[0].dag)
    ids = {t.task_id for t in tasks}
    for task in tasks:
        if not set(task.upstream_task_ids) & ids:
            build >> task
    return build
