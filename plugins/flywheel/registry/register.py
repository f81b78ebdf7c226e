"""Registers a training run as a model version (once per run) and points ``@challenger`` at it."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


def alias_version(mlflow_client: Any, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow_client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def register_run(mlflow_client: Any, name: str, run_id: str) -> str:
    """The version of ``run_id``'s model, creating it only if this run was never registered."""
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
    if alias_version(mlflow_client, name, CHAMPION) != version:
        mlflow_client.set_registered_model_alias(name, CHALLENGER, version)
        log.info("%s: version %s is @%s", name, version, CHALLENGER)
    return version
