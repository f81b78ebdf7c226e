"""A registered version's model files, fingerprinted at registration and checked before every use.

Registration stores the SHA-256 of every file of the version's model as a tag on the version (``MANIFEST_TAG``).
Promotion refuses a version whose files are missing or changed, and the gate and the prediction service load a
model only from a copy whose files match the tag: a model swapped or half-deleted in the artifact store after its
blessing is never promoted nor served. The error names the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_TAG = "flywheel.artifact_sha256"  # JSON: {path relative to the model directory: sha256}


class ArtifactError(RuntimeError):
    """A version's model files are missing, changed, or were never fingerprinted."""


def model_uri(name: str, version: str) -> str:
    return f"models:/{name}/{version}"


def file_hashes(directory: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``directory``."""
    hashes = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        hashes[path.relative_to(directory).as_posix()] = digest.hexdigest()
    return hashes


def download(name: str, version: str, destination: Path) -> Path:
    """The version's model files, copied into ``destination``; an artifact store that lost them all is an error."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        local = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=model_uri(name, version), dst_path=str(destination))
        )
    except (MlflowException, OSError) as exc:
        raise ArtifactError(
            f"{name} v{version}: the model files cannot be read from the artifact store: {exc}"
        ) from exc
    return local


def record_manifest(mlflow_client: Any, name: str, version: str) -> dict[str, str]:
    """Fingerprint the version's files now (at registration) and store the fingerprints as a version tag."""
    with tempfile.TemporaryDirectory() as tmp:
        hashes = file_hashes(download(name, version, Path(tmp)))
    if not hashes:
        raise ArtifactError(f"{name} v{version}: the registered model has no files")
    mlflow_client.set_model_version_tag(name, version, MANIFEST_TAG, json.dumps(hashes, sort_keys=True))
    log.info("%s v%s: %d model files fingerprinted", name, version, len(hashes))
    return hashes


def recorded_manifest(mlflow_client: Any, name: str, version: str) -> dict[str, str]:
    tag = mlflow_client.get_model_version(name, version).tags.get(MANIFEST_TAG)
    if not tag:
        raise ArtifactError(
            f"{name} v{version} has no recorded file fingerprints (tag {MANIFEST_TAG}): it was not registered by "
            "Flywheel's register step; register its run again"
        )
    return json.loads(tag)


def mismatches(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """What differs, one line per file: missing, changed, or not there at registration."""
    problems = [f"missing file {path}" for path in sorted(expected.keys() - actual.keys())]
    problems += [
        f"changed file {path}" for path in sorted(expected.keys() & actual.keys()) if expected[path] != actual[path]
    ]
    problems += [f"unexpected file {path}" for path in sorted(actual.keys() - expected.keys())]
    return problems


def verified_copy(mlflow_client: Any, name: str, version: str, destination: Path) -> Path:
    """Download the version's model into ``destination`` and check it file by file against its registration."""
    expected = recorded_manifest(mlflow_client, name, version)
    local = download(name, version, destination)
    problems = mismatches(expected, file_hashes(local))
    if problems:
        raise ArtifactError(
            f"{name} v{version}: the model files are not the ones registered ({'; '.join(problems)}); "
            "do not serve or promote it: train and register a new version"
        )
    return local


def verify(mlflow_client: Any, name: str, version: str) -> None:
    """Raise ``ArtifactError`` naming every missing, changed or unexpected file, if any."""
    with tempfile.TemporaryDirectory() as tmp:
        verified_copy(mlflow_client, name, version, Path(tmp))


def load_verified_model(mlflow_client: Any, name: str, version: str) -> Any:
    """The scikit-learn model of ``version``, loaded from a copy whose files match their registration."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        return mlflow.sklearn.load_model(str(verified_copy(mlflow_client, name, version, Path(tmp))))
