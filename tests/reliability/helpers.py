"""Shared pieces of the reliability suite: a training process to kill, and the registry's invariants."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from flywheel.settings import Settings
from tests.helpers import settings_env

BIN = Path(sys.executable).parent  # the virtual environment's commands (dbt, mlflow)
PYTHON = str(Path(sys.executable))

# train -> register -> gate -> first promotion, the train DAG's four tasks in one process (what a worker runs).
# It touches its second argument once its imports are done, so a kill can be timed against the work itself, and
# prints when the fit is logged and when all is done, so kills can be aimed at the registry steps in between.
TRAINING_SCRIPT = """
import pathlib, sys, time
from flywheel.jobs import train as job
from flywheel.workspace import Workspace
workspace, name = Workspace.from_environment(), sys.argv[1]
pathlib.Path(sys.argv[2]).touch()
started = time.monotonic()
run_id = job.train(workspace, name, reason="reliability suite")
print("TRAINED_AFTER", time.monotonic() - started, flush=True)
version = job.register_model(workspace, name, run_id)
if job.gate_model(workspace, name, version):
    job.promote_first_champion(workspace, name, version)
print("DONE_AFTER", time.monotonic() - started, flush=True)
"""


def start_training(settings: Settings, name: str, log_file: Path, ready_file: Path) -> subprocess.Popen:
    ready_file.unlink(missing_ok=True)
    with open(log_file, "ab") as sink:
        return subprocess.Popen(
            [PYTHON, "-c", TRAINING_SCRIPT, name, str(ready_file)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **settings_env(settings)},
        )


def registry_state(client: Any, name: str) -> dict[str, Any]:
    """Every version of ``name`` with its tags and aliases, and every run of its experiment with its status."""
    found = client.search_model_versions(f"name = '{name}'")
    versions = [client.get_model_version(name, v.version) for v in found]  # with their aliases
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    return {
        "versions": {
            str(v.version): {"tags": dict(v.tags), "aliases": list(v.aliases), "run_id": v.run_id} for v in versions
        },
        "runs": {r.info.run_id: r.info.status for r in runs},
    }
