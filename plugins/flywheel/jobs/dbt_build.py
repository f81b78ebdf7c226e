"""One `dbt build` of the whole project per transform run, and each node's share of its results.

Cosmos' LOCAL mode starts dbt once per model task: twelve invocations of about a second each for a project whose
own work takes 1.6 s (the transform took 11-17 s; one `dbt build` of the same project takes 3 s in-process with
partial parsing). Cosmos' watcher mode runs one build too, but its per-model sensors wait on the producer through
deferral, which `dag.test()` (the embedded mode) runs inline: the first sensor waited forever for a producer that
had not started. So the transform DAG runs `run_build` once (task ``dbt.build``) and keeps one Airflow task per
dbt node (rendered by Cosmos from the manifest, in dbt's order), which reports that node's results from the build:
its status and its own dbt log lines, and fails naming the model and the test. A retried node task builds its node
again on its own (``selector``), as Cosmos' LOCAL mode would.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flywheel.settings import Settings

log = logging.getLogger(__name__)

FAILED = ("error", "fail", "runtime error", "skipped")  # skipped: dbt did not run it (an upstream node failed)
LOG_LINES_PER_NODE = 50
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class NodeResult:
    """One dbt node's outcome in a build: a model, seed or snapshot built, a test run, a source checked."""

    unique_id: str  # model.flywheel.fct_bookings, test.flywheel.not_null_..., source.flywheel.hotels.bookings
    name: str
    resource_type: str  # model | test | unit_test | seed | snapshot | source
    status: str  # dbt's: success | error | skipped (models); pass | fail | warn | error | skipped (tests)
    message: str
    failures: int | None  # rows a failing test returned
    seconds: float
    parents: tuple[str, ...]  # the unique ids it depends on (a test: the models or sources it tests)
    log: tuple[str, ...] = field(default=())  # dbt's own lines about this node

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeResult:
        return cls(**{**data, "parents": tuple(data["parents"]), "log": tuple(data.get("log", ()))})


def results_for(node_id: str, results: Iterable[NodeResult]) -> list[NodeResult]:
    """What the Airflow task of ``node_id`` reports: the node itself and the tests of that node alone (a test of
    several nodes has its own task, after all of them: Cosmos renders it detached)."""
    return [
        r
        for r in results
        if r.unique_id == node_id or (r.resource_type in ("test", "unit_test") and r.parents == (node_id,))
    ]


def failure_message(node_name: str, results: Iterable[NodeResult]) -> str | None:
    """None when every result passed (a warning passes); else what failed, by name, and what to do."""
    failed = [r for r in results if r.failed]
    if not failed:
        return None
    parts = [
        f"{r.resource_type} {r.name} {r.status}"
        + (f" ({r.failures} failing rows)" if r.failures else "")
        + (f": {r.message}" if r.message else "")
        for r in failed
    ]
    return (
        f"dbt {node_name}: " + "; ".join(parts) + ". The task log has dbt's lines for it; fix the model or the data, "
        "then clear this task (it rebuilds the node alone) or the dbt.build task (it rebuilds everything)."
    )


def selector(node_id: str, resource_type: str, name: str) -> list[str]:
    """`dbt build` arguments that build one node again with its own tests (what its task reports)."""
    if resource_type == "source":
        source, table = node_id.split(".")[-2:]
        return ["--select", f"source:{source}.{table}"]
    if resource_type == "test":
        return ["--select", name]
    # cautious: only the tests whose every parent is selected, i.e. this node's own (a test of several nodes has
    # its own task).
    return ["--select", name, "--indirect-selection", "cautious"]


def run_build(settings: Settings, extra_args: list[str] | None = None) -> list[NodeResult]:
    """`dbt build` in this process (dbt's programmatic runner), partial parsing from ``settings.dbt_target_path``.
    Returns every node's result, failed ones included; raises only when dbt could not run at all (the project
    does not compile, the warehouse is unreachable), with dbt's message."""
    import os

    from dbt.cli.main import dbtRunner

    project = settings.dbt_project_dir
    lines: dict[str, list[str]] = {}

    def collect(event: Any) -> None:
        node_id = getattr(getattr(event.data, "node_info", None), "unique_id", "")
        message = event.info.msg
        if event.info.level == "debug" or not node_id or not message:  # dbt's SQL and connection chatter
            return
        if len(lines.setdefault(node_id, [])) < LOG_LINES_PER_NODE:
            lines[node_id].append(ANSI_COLOUR.sub("", str(message)))

    os.environ.update(settings.dbt_env())
    target = Path(settings.dbt_target_path)
    args = [
        "build",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target",
        settings.dbt_target,
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
        *(extra_args or []),
    ]
    log.info("dbt %s", " ".join(args))
    outcome = dbtRunner(callbacks=[collect]).invoke(args)
    run = outcome.result
    if outcome.exception is not None or run is None or not hasattr(run, "results"):
        raise RuntimeError(f"dbt build could not run: {outcome.exception or run}")
    results = [_node_result(r, lines) for r in run.results]
    failed = [r.unique_id for r in results if r.failed]
    log.info("dbt build: %d nodes, %d failed%s", len(results), len(failed), f" ({', '.join(failed)})" if failed else "")
    return results


def _node_result(result: Any, lines: dict[str, list[str]]) -> NodeResult:
    node = result.node
    depends_on = getattr(node, "depends_on", None)
    return NodeResult(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=str(getattr(node.resource_type, "value", node.resource_type)),
        status=str(getattr(result.status, "value", result.status)),
        message=str(result.message or ""),
        failures=result.failures,
        seconds=round(float(result.execution_time or 0.0), 3),
        parents=tuple(sorted(set(getattr(depends_on, "nodes", []) or []))),
        log=tuple(lines.get(node.unique_id, [])),
    )
