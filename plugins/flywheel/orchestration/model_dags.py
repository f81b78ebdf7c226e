"""The per-model DAGs of each DAG file, one set per model; a model whose spec or monitoring file does not validate
gets placeholder DAGs that fail Airflow's validation instead.

Airflow drops every DAG of a file whose import raises, so a loop over ``models/*.yaml`` that raised on one bad file
would take every model's DAGs down with it. Instead the DAG files put, for a broken model, a DAG whose
``validate()`` raises a ``SpecFileError`` naming the file, the field and what to do: Airflow's DagBag records that
as the DAG file's import error (shown in the UI and by ``airflow dags list-import-errors``) and still loads every
other DAG of the file. Checked against the DagBag by tests/dags/test_dag_integrity.py.
"""

from __future__ import annotations

from airflow.sdk import DAG

from flywheel.decisions.config_check import Problem
from flywheel.jobs.spec_files import SpecFiles, describe, load_spec_files
from flywheel.settings import Settings


class SpecFileError(ValueError):
    """A model's configuration file does not validate; its DAGs are not loaded."""


class BrokenModelDag(DAG):
    """Never scheduled: its validation fails with the model's problems (see the module docstring)."""

    def validate(self) -> None:
        raise SpecFileError(self.doc_md or "the model's configuration does not validate")


def broken_dags(kinds: list[str], broken: dict[str, list[Problem]]) -> dict[str, DAG]:
    """A placeholder per kind of DAG (``train``, ``canary``, ...) and broken model. Airflow keeps one import error
    per DAG file (the last one raised), so each placeholder's error names every broken model of the file, with
    every problem (file, field, rule, what to do)."""
    ids = [f"{kind}__{name}" for name in broken for kind in kinds]
    problems = " ".join(describe(found) for found in broken.values())
    message = f"not loaded: {', '.join(ids)}. {problems} Run `flywheel check` to see every problem."
    return {dag_id: BrokenModelDag(dag_id=dag_id, schedule=None, doc_md=message) for dag_id in ids}


def _files(settings: Settings) -> SpecFiles:
    return load_spec_files(settings.models_dir, settings.monitoring_dir)


def train_dags(settings: Settings) -> dict[str, DAG]:
    """``train__<model>`` per model."""
    from flywheel.orchestration.train import build_train_dag

    files = _files(settings)
    return {f"train__{s.name}": build_train_dag(s) for s in files.specs} | broken_dags(["train"], files.broken_models)


def canary_dags(settings: Settings) -> dict[str, DAG]:
    """``score__<model>`` and ``canary__<model>`` per model."""
    from flywheel.orchestration.canary import build_canary_dag, build_score_dag

    files = _files(settings)
    dags = {f"score__{s.name}": build_score_dag(s) for s in files.specs}
    dags |= {f"canary__{s.name}": build_canary_dag(s) for s in files.specs}
    return dags | broken_dags(["score", "canary"], files.broken_models)


def monitor_dags(settings: Settings) -> dict[str, DAG]:
    """``monitor__<model>`` per monitoring policy (a policy without its model is broken too)."""
    from flywheel.orchestration.monitor import build_monitor_dag

    files = _files(settings)
    dags = {f"monitor__{s.name}": build_monitor_dag(s, m) for s, m in files.monitored}
    return dags | broken_dags(["monitor"], {**files.broken_models, **files.broken_monitors})
