"""Train -> register -> gate -> (first) promotion of one model, one function per Airflow task.

Each step takes and returns ids (spec name, run id, version), never data, and is idempotent: the same spec on the
same snapshot reuses its run, a run is registered once, a verdict is recorded once per champion.
"""

from __future__ import annotations

import logging

from flywheel.registry import gate, register, tracking
from flywheel.registry.lineage import lineage_tags, training_key
from flywheel.registry.promote import promote
from flywheel.workspace import Workspace

log = logging.getLogger(__name__)


def has_champion(workspace: Workspace, name: str) -> bool:
    return workspace.registry.champion(name) is not None


def train(workspace: Workspace, name: str, reason: str = "manual") -> str:
    """Fit the model on the current snapshot of its mart and log it; returns the MLflow run id.

    ``reason`` (why this training happened: a retrain request's reason, a person, the first data) is a tag on the
    run; it is not part of the training key, so the same data is never trained twice for two reasons."""
    from flywheel.training.dataset import load_snapshot, time_split
    from flywheel.training.fit import fit_model

    settings, spec = workspace.settings, workspace.spec(name)
    path = settings.models_dir / f"{name}.yaml"
    snapshot = load_snapshot(spec, workspace.warehouse)
    mlflow_client = workspace.registry.mlflow
    experiment_id = tracking.ensure_experiment(mlflow_client, name, settings)
    key = training_key(path, snapshot)
    existing = tracking.find_training_run(mlflow_client, experiment_id, key)
    if existing:
        log.info("%s: snapshot %s already trained by run %s: nothing to do", name, snapshot.sha256[:12], existing)
        return existing
    tracking.fail_unfinished_runs(mlflow_client, experiment_id, key)
    split = time_split(snapshot, spec)
    result = fit_model(spec, split, settings.training_cores)
    tags = {**lineage_tags(spec, path, snapshot, settings), "flywheel.trigger_reason": reason[:4000]}
    return tracking.log_training_run(spec, snapshot, split, result, tags, experiment_id)


def register_model(workspace: Workspace, name: str, run_id: str) -> str:
    """Register ``run_id`` (once) and return its version, now @challenger unless it is the champion."""
    return register.register_run(workspace.registry.mlflow, name, run_id, workspace.settings)


def gate_model(workspace: Workspace, name: str, version: str, actor: str = "flywheel") -> bool:
    """Gate ``version`` against @champion and the baseline; record the verdict once. Returns blessed or not."""
    spec, mlflow_client = workspace.spec(name), workspace.registry.mlflow
    recorded = gate.recorded_verdict(mlflow_client, name, version)
    if recorded is not None:
        log.info("%s v%s: verdict already recorded (blessed=%s)", name, version, recorded)
        return recorded
    verdict = gate.evaluate_gate(spec, mlflow_client, version)
    gate.record_verdict(verdict, mlflow_client, workspace.warehouse, actor)
    return verdict.blessed


def promote_first_champion(workspace: Workspace, name: str, version: str, actor: str = "flywheel") -> bool:
    """With no champion yet, a blessed version becomes @champion; otherwise the canary decides (not here)."""
    mlflow_client = workspace.registry.mlflow
    champion = workspace.registry.champion(name)
    if champion not in (None, version):
        log.info("%s: @champion is v%s; v%s stays @challenger for the canary", name, champion, version)
        return False
    return promote(
        name,
        version,
        actor,
        "first blessed version: no champion yet",
        mlflow_client,
        workspace.warehouse,
        workspace.settings,
        expected_champion=None,
    )
