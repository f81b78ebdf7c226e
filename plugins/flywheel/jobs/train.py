"""Train -> register -> gate -> (first) promotion of one model, one function per Airflow task.

Each step takes and returns ids (spec name, run id, version), never data, and is idempotent: the same spec on the
same snapshot reuses its run, a run is registered once, a verdict is recorded once per champion.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from flywheel.core.clock import iso_seconds
from flywheel.decisions.retrain_strategy import Lineage, StrategyDecision, training_strategy
from flywheel.jobs.checklist import apply_checklist
from flywheel.registry import gate, register, tracking
from flywheel.registry.client import BLESSED_TAG
from flywheel.registry.lineage import lineage_tags, training_key
from flywheel.registry.promote import promote
from flywheel.workspace import Workspace

if TYPE_CHECKING:
    from flywheel.training.dataset import TimeSplit
    from flywheel.training.fit import TrainingResult
    from flywheel.training.warm_start import Champion

log = logging.getLogger(__name__)


def has_champion(workspace: Workspace, name: str) -> bool:
    return workspace.registry.champion(name) is not None


def train(workspace: Workspace, name: str, reason: str = "manual", requested: str | None = None) -> str:
    """Fit the model on the current snapshot of its mart and log it; returns the MLflow run id.

    ``reason`` (why this training happened: a retrain request's reason, a person, the first data) is a tag on the
    run; it is not part of the training key, so the same data is never trained twice for two reasons. How it is
    trained (in full, or continuing the champion) is decided from the spec's ``retrain:`` policy and the registry
    (``decisions.retrain_strategy``; ``requested="full"``, from a request or a person, forces a full one) and
    recorded on the run with what it cost."""
    from flywheel.training.cost import measured
    from flywheel.training.dataset import load_snapshot, time_split

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
    decided = training_strategy(spec.retrain, registry_lineage(workspace, name), requested)
    log.info("%s: %s", name, decided.reason)
    with measured() as cost:
        result, decided = _fit(workspace, name, split, decided)
    tags = {
        **lineage_tags(spec, path, snapshot, settings),
        "flywheel.trigger_reason": reason[:4000],
        tracking.STRATEGY_TAG: decided.strategy,
        tracking.WARM_STARTS_TAG: str(decided.warm_starts),
        "flywheel.strategy_reason": decided.reason,
    }
    return tracking.log_training_run(spec, snapshot, split, result, tags, experiment_id, cost)


def _fit(
    workspace: Workspace, name: str, split: TimeSplit, decided: StrategyDecision
) -> tuple[TrainingResult, StrategyDecision]:
    """The training as decided; a warm start the champion cannot make (no new rows, a class missing from them)
    becomes a full training, and the decision says why."""
    from flywheel.training.fit import fit_model
    from flywheel.training.warm_start import WarmStartRefused, fit_warm_start

    spec, cores = workspace.spec(name), workspace.settings.training_cores
    if decided.strategy == "warm_start":
        champion = champion_to_continue(workspace, name)
        try:
            return fit_warm_start(spec, split, champion, cores), decided
        except WarmStartRefused as refused:
            decided = StrategyDecision("full", 0, f"full: v{champion.version} cannot be continued: {refused}")
            log.warning("%s: %s", name, decided.reason)
    return fit_model(spec, split, cores), decided


def registry_lineage(workspace: Workspace, name: str) -> Lineage:
    """What the strategy decision needs from the registry: the champion, how many warm starts led to it, and
    whether the newest version is a warm start the gate refused."""
    registry = workspace.registry
    champion = registry.champion(name)
    if champion is None:
        return Lineage(None)
    champion_tags = registry.training_run(name, champion).tags
    newest = max((int(v.version) for v in registry.mlflow.search_model_versions(f"name = '{name}'")), default=0)
    refused = None
    if newest > int(champion):
        latest = registry.version(name, str(newest))
        latest_tags = registry.training_run(name, latest.version).tags
        if latest_tags.get(tracking.STRATEGY_TAG) == "warm_start" and latest.tags.get(BLESSED_TAG) == "false":
            refused = latest.version
    return Lineage(champion, int(champion_tags.get(tracking.WARM_STARTS_TAG, "0")), refused)


def champion_to_continue(workspace: Workspace, name: str) -> Champion:
    from flywheel.registry.artifacts import load_verified_model
    from flywheel.training.warm_start import Champion

    registry = workspace.registry
    version = registry.champion(name)
    if version is None:
        raise ValueError(f"{name}: a warm start needs a champion")
    params = registry.mlflow.get_run(registry.version(name, version).run_id).data.params
    return Champion(
        version,
        load_verified_model(registry.mlflow, name, version),
        params.get(tracking.FITTED_FROM_PARAM, ""),
        params[tracking.FITTED_UNTIL_PARAM],
    )


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
    apply_checklist(workspace, name, version, verdict)  # a failed required item is a failed check: no blessing
    gate.record_verdict(verdict, mlflow_client, workspace.warehouse, actor)
    return verdict.blessed


def promote_first_champion(
    workspace: Workspace, name: str, version: str, actor: str = "flywheel", as_of: datetime | None = None
) -> bool:
    """With no champion yet, a blessed version becomes @champion; otherwise the canary decides (not here).
    ``as_of``: the data's time of the promotion (the deployment history's clock; default now)."""
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
        evidence={"as_of": iso_seconds(as_of)},
    )
