"""Validate the new partitions of every mart that has a suite in expectations/."""

from __future__ import annotations

from flywheel.data.validation import PartitionResult, validate_new_partitions
from flywheel.settings import Settings
from flywheel.workspace import Workspace


def suites(settings: Settings) -> list[str]:
    """Marts with a suite: the file stem of each expectations/*.json (read when the transform DAG is built)."""
    return sorted(p.stem for p in settings.expectations_dir.glob("*.json"))


def validate_mart(workspace: Workspace, mart: str, run_key: str = "") -> list[PartitionResult]:
    return validate_new_partitions(
        mart,
        workspace.warehouse,
        workspace.settings.expectations_dir,
        workspace.store("reports"),
        workspace.store("quarantine"),
        run_key,
    )
