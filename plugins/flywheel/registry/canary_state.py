"""A canary's state, kept as tags on the challenger's model version: the registry is the one place the prediction
service and the canary DAG both read. History (every decision and its evidence) is in the ledger."""

from __future__ import annotations

from typing import Any

from flywheel.core.canary import CanaryState
from flywheel.core.clock import iso_seconds

PREFIX = "flywheel.canary_"

__all__ = ["PREFIX", "CanaryState", "now_iso", "read", "write"]


def now_iso() -> str:
    return iso_seconds()


def read(mlflow_client: Any, name: str, version: str | None) -> CanaryState:
    if version is None:
        return CanaryState(None, "none", 0, 0.0)
    tags = mlflow_client.get_model_version(name, version).tags
    status = tags.get(f"{PREFIX}status", "none")
    return CanaryState(
        version=version,
        status=status,
        step=int(tags.get(f"{PREFIX}step", 0)),
        share=float(tags.get(f"{PREFIX}share", 0.0)) if status == "running" else 0.0,
        started_at=tags.get(f"{PREFIX}started_at"),
        step_started_at=tags.get(f"{PREFIX}step_started_at"),
        champion=tags.get(f"{PREFIX}champion"),
        shadow=status == "running" and tags.get(f"{PREFIX}shadow") == "true",
        logged_from=tags.get(f"{PREFIX}logged_from"),
    )


def write(mlflow_client: Any, name: str, version: str, **fields: Any) -> None:
    for key, value in fields.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        mlflow_client.set_model_version_tag(name, version, f"{PREFIX}{key}", text)
