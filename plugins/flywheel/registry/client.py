"""A typed view of the MLflow registry: the few reads the loop makes, returning Flywheel's types.

Writes (registering, blessing, moving aliases) stay in the modules that own them (``register``, ``gate``,
``promote``), which take the MLflow client itself (``Registry.mlflow``) because they need its full API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.core.canary import CanaryState
from flywheel.registry import canary_state
from flywheel.registry.register import CHALLENGER, CHAMPION, alias_version

BLESSED_TAG = "flywheel.blessed"  # the gate's verdict on a version; only the gate writes it "true"


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    run_id: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def blessed(self) -> bool:
        return self.tags.get(BLESSED_TAG) == "true"


@dataclass(frozen=True)
class TrainingRun:
    """The training run behind a version: its tags (lineage, data window) and its logged metrics."""

    run_id: str
    tags: Mapping[str, str]
    metrics: Mapping[str, float]

    @property
    def data_window(self) -> tuple[str, str]:
        """First and last event time of the data it was trained on (ISO text, written at training time)."""
        return self.tags["flywheel.data_first_event"], self.tags["flywheel.data_last_event"]


class Registry:
    def __init__(self, mlflow_client: Any) -> None:
        self.mlflow = mlflow_client

    def evaluated_holdout(self, run_id: str) -> Any:
        """The version's holdout rows with the scores of the model as evaluated (out of sample: fitted before
        them), as a DataFrame; None for a version trained before those scores were kept."""
        import tempfile

        import pandas as pd

        from flywheel.registry.tracking import EVALUATED_SCORE_COLUMN, HOLDOUT_ARTIFACT

        with tempfile.TemporaryDirectory() as folder:
            holdout = pd.read_parquet(self.mlflow.download_artifacts(run_id, HOLDOUT_ARTIFACT, folder))
        return holdout if EVALUATED_SCORE_COLUMN in holdout else None

    def importance(self, run_id: str) -> dict[str, float] | None:
        """The version's permutation importance on its holdout, per input column; None for a version trained
        before it was recorded (the monitor then weighs every feature alike)."""
        import json
        import tempfile
        from pathlib import Path

        from flywheel.registry.tracking import IMPORTANCE_ARTIFACT

        folder, _, name = IMPORTANCE_ARTIFACT.rpartition("/")
        if not any(a.path.endswith(name) for a in self.mlflow.list_artifacts(run_id, folder)):
            return None
        with tempfile.TemporaryDirectory() as tmp:
            path = self.mlflow.download_artifacts(run_id, IMPORTANCE_ARTIFACT, tmp)
            return {str(k): float(v) for k, v in json.loads(Path(path).read_text()).items()}

    def alias(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points at; None if there is none (an unreachable registry raises)."""
        return alias_version(self.mlflow, name, alias)

    def champion(self, name: str) -> str | None:
        return self.alias(name, CHAMPION)

    def challenger(self, name: str) -> str | None:
        return self.alias(name, CHALLENGER)

    def version(self, name: str, version: str) -> ModelVersion:
        found = self.mlflow.get_model_version(name, version)
        return ModelVersion(name, str(found.version), str(found.run_id), dict(found.tags))

    def training_run(self, name: str, version: str) -> TrainingRun:
        run = self.mlflow.get_run(self.version(name, version).run_id)
        return TrainingRun(run.info.run_id, dict(run.data.tags), dict(run.data.metrics))

    def canary(self, name: str) -> CanaryState:
        """The canary of today's @challenger (status "none" without one)."""
        return canary_state.read(self.mlflow, name, self.challenger(name))
