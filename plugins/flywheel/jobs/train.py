"""Train -> register -> gate -> (first) promotion of one model, one function per Airflow task.

Each step takes and returns ids (spec name, run id, version), never data, and is idempotent: the same spec on the
same snapshot reuses its run, a run is registered once, a verdict is recorded once per champion.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flywheel.data.warehouse import open_warehouse
from flywheel.registry import gate, register, tracking
from flywheel.registry.lineage import lineage_tags, training_key
from flywheel.registry.promote import promote
from flywheel.settings import Settings, get_settings
from flywheel.specs import ModelSpec, load_spec

log = logging.getLogger(__name__)


def _spec(name: str, settings: Settings) -> tuple[ModelSpec, Path]:
    path = settings.models_dir / f"{name}.yaml"
    return load_spec(path), path


def has_champion(name: str, settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    return register.alias_version(tracking.client(settings), name, register.CHAMPION) is not None


def train(name: str, settings: Settings | None = None, reason: str = "manual") -> str:
    """Fit the model on the current snapshot of its mart and log it; returns the MLflow run id.

    ``reason`` (why this training happened: a retrain request's reason, a person, the first data) is a tag on the
    run; it is not part of the training key, so the same data is never trained twice for two reasons."""
    from flywheel.training.dataset import load_snapshot, time_split
    from flywheel.training.fit import fit_model

    settings = settings or get_settings()
    spec, path = _spec(name, settings)
    snapshot = load_snapshot(spec, open_warehouse(settings))
    mlflow_client = tracking.client(settings)
    experiment_id = tracking.ensure_experiment(mlflow_client, name, settings)
    key = training_key(path, snapshot)
    existing = tracking.find_training_run(mlflow_client, experiment_id, key)
    if existing:
        log.info("%s: snapshot %s already trained by run %s: nothing to do", name, snapshot.sha256[:12], existing)
        return existing
    tracking.fail_unfinished_runs(mlflow_client, experiment_id, key)
    split = time_split(snapshot, spec)
    result = fit_model(spec, split, settings.search_n_jobs)
    tags = {**lineage_tags(spec, path, snapshot, settings), "flywheel.trigger_reason": reason[:4000]}
    return tracking.log_training_run(spec, snapshot, split, result, tags, experiment_id)


def register_model(name: str, run_id: str, settings: Settings | None = None) -> str:
    """Register ``run_id`` (once) and return its version, now @challenger unless it is the champion."""
    settings = settings or get_settings()
    return register.register_run(tracking.client(settings), name, run_id, settings)


def gate_model(name: str, version: str, settings: Settings | None = None, actor: str = "flywheel") -> bool:
    """Gate ``version`` against @champion and the baseline; record the verdict once. Returns blessed or not."""
    settings = settings or get_settings()
    spec, _ = _spec(name, settings)
    mlflow_client = tracking.client(settings)
    recorded = gate.recorded_verdict(mlflow_client, name, version)
    if recorded is not None:
        log.info("%s v%s: verdict already recorded (blessed=%s)", name, version, recorded)
        return recorded
    verdict = gate.evaluate_gate(spec, mlflow_client, version)
    gate.record_verdict(verdict, mlflow_client, open_warehouse(settings), actor)
    return verdict.blessed


def promote_first_champion(name: str, version: str, settings: Settings | None = None, actor: str = "flywheel") -> bool:
    """With no champion yet, a blessed version becomes @champion; otherwise the canary decides (not here)."""
    settings = settings or get_settings()
    mlflow_client = tracking.client(settings)
    champion = register.alias_version(mlflow_client, name, register.CHAMPION)
    if champion not in (None, version):
        log.info("%s: @champion is v%s; v%s stays @challenger for the canary", name, champion, version)
        return False
    return promote(
        name,
        version,
        actor,
        "first blessed version: no champion yet",
        mlflow_client,
        open_warehouse(settings),
        settings,
        expected_champion=None,
    )
