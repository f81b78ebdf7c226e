"""Scenario 6: concurrent registrations and promotions of one model from separate processes (each of RUNS runs
registered by two processes at once, then every version promoted at once): version numbers stay consecutive with
one version per run, promotions are serialised, and @champion always agrees with the ledger."""

from __future__ import annotations

import json
import os
import subprocess

import mlflow
import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.jobs import train as train_job
from flywheel.registry import gate, ledger, register, tracking
from flywheel.settings import Settings
from flywheel.workspace import Workspace
from tests.helpers import settings_env, small_spec_copies
from tests.reliability.helpers import PYTHON

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

NAME = "bike_concurrent"
# Runs of one model; each registered by two processes at once, then promoted by two at once. `make test` 4 (16
# processes each starting Python and MLflow on two busy cores), `make bench` 6.
RUNS = int(os.environ.get("FLYWHEEL_RELIABILITY_REGISTRY_RUNS", "4"))

REGISTER = """
import sys
from flywheel.registry import register, tracking
from flywheel.settings import get_settings
settings = get_settings()
print(register.register_run(tracking.client(settings), sys.argv[1], sys.argv[2], settings))
"""

# What the canary does: read the champion, then promote with it as the expected one (a compare-and-set).
PROMOTE = """
import sys
from flywheel.data.warehouse import open_warehouse
from flywheel.registry import promote, register, tracking
from flywheel.settings import get_settings
settings = get_settings()
client = tracking.client(settings)
name, version, guarded = sys.argv[1], sys.argv[2], sys.argv[3] == "guarded"
expected = register.alias_version(client, name, register.CHAMPION)
kwargs = {"expected_champion": expected} if guarded else {}
try:
    moved = promote.promote(name, version, "race", "reliability", client, open_warehouse(settings), settings, **kwargs)
    print("promoted" if moved else "unchanged")
except promote.PromotionError as exc:
    print("refused:", exc)
"""


@pytest.fixture(scope="module")
def settings(tmp_path_factory, template) -> Settings:
    settings = template("bike_first_half_year", tmp_path_factory.mktemp("concurrent-registry"))  # its data
    small_spec_copies(settings.project_dir, settings.models_dir, [NAME])
    return settings


def _runs_of_one_model(settings: Settings) -> list[str]:
    """One real training run, and copies of its model logged as further runs (what retrainings would leave)."""
    first = train_job.train(Workspace(settings), NAME)
    client = tracking.client(settings)
    model = mlflow.sklearn.load_model(client.get_run(first).data.tags["flywheel.model_uri"])
    experiment = tracking.ensure_experiment(client, NAME, settings)
    runs = [first]
    for i in range(RUNS - 1):
        with mlflow.start_run(experiment_id=experiment, run_name=f"copy {i}") as run:
            mlflow.set_tags({k: v for k, v in client.get_run(first).data.tags.items() if k.startswith("flywheel.")})
            info = mlflow.sklearn.log_model(
                model, name=tracking.MODEL_ARTIFACT, skops_trusted_types=tracking.trusted_types(model)
            )
            mlflow.set_tag("flywheel.model_uri", info.model_uri)
        runs.append(run.info.run_id)
    return runs


def _in_parallel(settings: Settings, script: str, argument_lists: list[list[str]]) -> list[str]:
    env = {**os.environ, **settings_env(settings)}
    processes = [
        subprocess.Popen(
            [PYTHON, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for args in argument_lists
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        outputs.append(out.strip().splitlines()[-1])
    return outputs


def test_concurrent_registrations_and_promotions_stay_consistent(settings, capsys):
    runs = _runs_of_one_model(settings)
    client = tracking.client(settings)

    # Every run registered by two processes at once: 12 processes, 6 runs.
    versions = _in_parallel(settings, REGISTER, [[NAME, run] for run in runs for _ in range(2)])
    registered = client.search_model_versions(f"name = '{NAME}'")
    assert sorted(int(v.version) for v in registered) == list(range(1, RUNS + 1))
    assert sorted({v.run_id for v in registered}) == sorted(runs)  # one version per run
    by_run = {v.run_id: str(v.version) for v in registered}
    assert versions == [by_run[run] for run in runs for _ in range(2)]  # both processes got the same answer

    for version in by_run.values():  # what the gate leaves on a blessed version
        client.set_model_version_tag(NAME, version, gate.BLESSED_TAG, "true")
    outcomes = []
    for mode in ("guarded", "unguarded"):
        outcomes += _in_parallel(settings, PROMOTE, [[NAME, v, mode] for v in sorted(by_run.values(), key=int)])

    promotions = sorted(
        (e for e in ledger.history(open_warehouse(settings), NAME, limit=100) if e["event"] == "promoted"),
        key=lambda e: e["recorded_at"],
    )
    previous = None
    for entry in promotions:  # serialised: each promotion starts from the champion the one before left
        assert json.loads(entry["evidence"])["previous_champion"] == previous, promotions
        previous = entry["version"]
    assert register.alias_version(client, NAME, register.CHAMPION) == previous
    assert outcomes.count("promoted") == len(promotions)
    refused = [o for o in outcomes if o.startswith("refused")]
    assert all("as the evidence assumed" in o for o in refused), refused
    with capsys.disabled():
        print(
            f"\nconcurrent registry: {2 * RUNS} registrations -> versions 1..{RUNS}; {len(outcomes)} promotions "
            f"at once -> {len(promotions)} applied in a chain, {len(refused)} refused (champion moved meanwhile)"
        )
