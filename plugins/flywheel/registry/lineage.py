"""What a model was made from, as tags on its MLflow run: enough to rebuild it."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from flywheel.settings import Settings
from flywheel.specs import ModelSpec, spec_sha256
from flywheel.training.dataset import Snapshot

TAG = "flywheel."


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def git_revision(project_dir: Path) -> str:
    """HEAD's commit, suffixed ``-dirty`` when tracked files have uncommitted changes; ``unknown`` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_dir, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def training_key(spec_path: Path, snapshot: Snapshot) -> str:
    """Same spec file + same data snapshot = same model: training again reuses the existing run and version."""
    return hashlib.sha256(f"{spec_sha256(spec_path)}:{snapshot.sha256}".encode()).hexdigest()


def lineage_tags(spec: ModelSpec, spec_path: Path, snapshot: Snapshot, settings: Settings) -> dict[str, str]:
    return {
        f"{TAG}model": spec.name,
        f"{TAG}training_key": training_key(spec_path, snapshot),
        f"{TAG}spec_sha256": spec_sha256(spec_path),
        f"{TAG}data_snapshot_sha256": snapshot.sha256,
        f"{TAG}data_first_event": snapshot.first_event,
        f"{TAG}data_last_event": snapshot.last_event,
        f"{TAG}data_rows": str(len(snapshot.frame)),
        f"{TAG}data_excluded_batches": ",".join(snapshot.excluded_batches) or "none",
        f"{TAG}source_mart": f"marts.{spec.source.mart}",
        f"{TAG}dbt_manifest_sha256": file_sha256(settings.dbt_manifest_path),
        f"{TAG}git_revision": git_revision(settings.project_dir),
        f"{TAG}lock_sha256": file_sha256(settings.project_dir / "requirements" / "lock.txt"),
    }
