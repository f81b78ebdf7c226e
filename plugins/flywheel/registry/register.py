"""Registers a training run as a model version (once per run), fingerprints its files, points ``@challenger`` at it.

Each step is safe to kill and retry: a run already registered is found by its run id, a version without its
fingerprints gets them on the retry, and ``@challenger`` moves only after both, so no alias ever names a version
whose files were not checked. Registrations of one model are serialised (the same lock as promotions)."""

from __future__ import annotations

import logging
from typing import Any

from flywheel.registry import artifacts
from flywheel.registry.lock import registry_lock
from flywheel.settings import Settings

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


def alias_version(mlflow_client: Any, name: str, alias: str) -> str | None:
    """The version ``alias`` points at; None if the alias or the model does not exist. Any other error (the
    registry unreachable) is raised: "no champion" and "cannot tell" must never be confused."""
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow_client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        # MLflow's authentication answers an alias of a model that does not exist yet with 403 for anyone but its
        # admin (the permission check finds no model to read); the model itself answers 404: ask it.
        if exc.error_code == "PERMISSION_DENIED" and not _model_exists(mlflow_client, name):
            return None
        raise


def _model_exists(mlflow_client: Any, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(name)
        return True
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise


def register_run(mlflow_client: Any, name: str, run_id: str, settings: Settings) -> str:
    """The version of ``run_id``'s model, creating it only if this run was never registered."""
    with registry_lock(name, settings):
        return _register_run(mlflow_client, name, run_id)


def _register_run(mlflow_client: Any, name: str, run_id: str) -> str:
    import mlflow

    existing = mlflow_client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        version = str(min(int(v.version) for v in existing))
        log.info("%s: run %s is already version %s", name, run_id, version)
    else:
        run = mlflow_client.get_run(run_id)
        tags = {k: v for k, v in run.data.tags.items() if k.startswith("flywheel.")}
        version = str(mlflow.register_model(tags["flywheel.model_uri"], name, tags=tags).version)
        log.info("%s: registered run %s as version %s", name, run_id, version)
    if artifacts.MANIFEST_TAG not in mlflow_client.get_model_version(name, version).tags:
        artifacts.record_manifest(mlflow_client, name, version)
    if alias_version(mlflow_client, name, CHAMPION) != version:
        mlflow_client.set_registered_model_alias(name, CHALLENGER, version)
        log.info("%s: version %s is @%s", name, version, CHALLENGER)
    return version
