"""Runs a DAG in-process with ``dag.test()`` (the embedded mode), task logs to a file, progress to a callback."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import DAG

Progress = Callable[[int, int, list[str]], None]  # (finished tasks, all tasks, task ids running now)


@dataclass(frozen=True)
class DagOutcome:
    dag_id: str
    state: str
    task_states: dict[str, str]
    log_file: Path

    @property
    def failed_tasks(self) -> list[str]:
        return [t for t, s in self.task_states.items() if s in ("failed", "upstream_failed")]


def load_dags() -> tuple[dict[str, DAG], dict[str, str]]:
    """The DAGs that loaded, and the import errors (DAG file -> error) of those that did not: a model whose spec
    does not validate is one of the errors (flywheel.orchestration.model_dags), the other models' DAGs still load."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    return dict(bag.dags), dict(bag.import_errors)


@contextmanager
def output_to(log_file: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (task logs) to ``log_file`` at the file-descriptor level."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_file, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _task_states(dag_id: str, since: datetime) -> dict[str, str]:
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == dag_id, DagRun.start_date >= since)
            .order_by(DagRun.start_date.desc())
            .first()
        )
        if run is None:
            return {}
        rows = session.query(TaskInstance.task_id, TaskInstance.state).filter(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id
        )
        return {task_id: str(state or "none") for task_id, state in rows}


def run_dag(
    dag: DAG,
    log_file: Path,
    progress: Progress | None = None,
    poll_seconds: float = 1.0,
    conf: dict[str, object] | None = None,
    logical_date: datetime | None = None,
) -> DagOutcome:
    dag_id: str = dag.dag_id
    total = len(dag.tasks)
    since = datetime.now(UTC)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(poll_seconds):
            try:
                states = _task_states(dag_id, since)
            # Only the progress display polls here; the run's own result decides success.
            except Exception:  # nosec B112
                continue
            finished = sum(s in ("success", "failed", "skipped", "upstream_failed") for s in states.values())
            running = [t for t, s in states.items() if s == "running"]
            if progress:
                progress(finished, total, running)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with output_to(log_file):
            run = dag.test(run_conf=conf, logical_date=logical_date) if logical_date else dag.test(run_conf=conf)
    finally:
        done.set()
        watcher.join()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    if progress:
        progress(total, total, [])
    return DagOutcome(dag_id, str(run.state), states, log_file)


def asset_events_since(asset_name: str, since: datetime) -> list[dict[str, object]]:
    """The extras of the events on ``asset_name`` since ``since``: what the scheduler would react to. The embedded
    mode runs the consuming DAG itself (dag.test() schedules nothing)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .filter(AssetModel.name == asset_name, AssetEvent.timestamp >= since)
            .all()
        )
    return [dict(extra or {}) for (extra,) in rows]
