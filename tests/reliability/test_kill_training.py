"""Scenario 1: the training task (train -> register -> gate -> first promotion) killed with SIGKILL at random
points, 8 times in `make test` (20 in `make bench`). After every kill: no version without complete, fingerprinted
files carries an alias, and no version comes from an unfinished run. After the retry: exactly one version per
model, @champion, files intact."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.registry import artifacts, ledger, register, tracking
from flywheel.settings import Settings
from tests.helpers import small_spec_copies
from tests.reliability.helpers import registry_state, start_training

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

# `make test` kills 8 times; `make bench` 20 (the size CI ran before), benchmarks/kill_training.sh 100.
KILLS = int(os.environ.get("FLYWHEEL_RELIABILITY_KILLS", "8"))


def _phase(state: dict) -> str:
    """How far the killed attempt got, read from what it left behind."""
    versions = state["versions"].values()
    if any("champion" in v["aliases"] for v in versions):
        return "promoted"
    if any("flywheel.blessed" in v["tags"] for v in versions):
        return "gated"
    if any("challenger" in v["aliases"] for v in versions):
        return "registered, @challenger"
    if versions:
        return "registered, files not yet fingerprinted"
    if "FINISHED" in state["runs"].values():
        return "run finished, not registered"
    if state["runs"]:
        return "fitting / logging the run"
    return "starting up"


def _assert_registry_sound(client, name: str, state: dict) -> None:
    for version, info in state["versions"].items():
        assert state["runs"].get(info["run_id"]) == "FINISHED", f"v{version} comes from an unfinished run"
        if info["aliases"] or artifacts.MANIFEST_TAG in info["tags"]:
            assert artifacts.MANIFEST_TAG in info["tags"], f"v{version} has {info['aliases']} but no fingerprints"
            artifacts.verify(client, name, version)  # every file there and unchanged
    assert len(state["versions"]) <= 1, state["versions"]


def _wait_until_started(process, ready_file: Path, log_file: Path) -> None:
    deadline = time.monotonic() + 120
    while not ready_file.exists():
        assert process.poll() is None, log_file.read_text()[-3000:]
        assert time.monotonic() < deadline, "the training process did not start"
        time.sleep(0.01)


def _assert_done_once(client, settings: Settings, name: str) -> None:
    """The end of a chain of attempts: one version, @champion, its files intact, one finished run, one promotion."""
    state = registry_state(client, name)
    assert len(state["versions"]) == 1, state["versions"]
    (version,) = state["versions"]
    assert register.alias_version(client, name, register.CHAMPION) == version
    assert "RUNNING" not in state["runs"].values(), state["runs"]
    assert list(state["runs"].values()).count("FINISHED") == 1, state["runs"]
    artifacts.verify(client, name, version)
    promotions = [e for e in ledger.history(open_warehouse(settings), name) if e["event"] == "promoted"]
    assert len(promotions) == 1, promotions


@pytest.fixture(scope="module")
def settings(tmp_path_factory, template) -> Settings:
    settings = template("bike_first_half_year", tmp_path_factory.mktemp("kill-training"))  # 2011-01 .. 06 built
    # A chain of attempts may end without a kill (the attempt finished first): room for four chains per kill.
    names = ["bike_reference_a", "bike_reference_b", *(f"bike_kill_{i:02d}" for i in range(4 * KILLS))]
    small_spec_copies(settings.project_dir, settings.models_dir, names)
    return settings


def test_killing_training_at_random_points_never_leaves_a_half_registered_model(settings, capsys):
    """Like a worker lost again and again: each attempt is killed at a random point of its work (after its
    imports) and retried, until an attempt gets through; then the next model. KILLS kills in all, half of them
    anywhere in the work, half in the registry steps after the fit."""
    logs, ready = settings.home / "logs", settings.home / "started"
    logs.mkdir(exist_ok=True)
    # The work's length, from two clean runs (the shorter: a moment of load elsewhere must not stretch every
    # kill's range), with when the fit was logged and when everything was done.
    timings = []
    for reference_name in ("bike_reference_a", "bike_reference_b"):
        log_file = logs / f"{reference_name}.log"
        reference = start_training(settings, reference_name, log_file, ready)
        _wait_until_started(reference, ready, log_file)
        started = time.monotonic()
        assert reference.wait(timeout=600) == 0, log_file.read_text()[-3000:]
        marks = dict(line.split()[:2] for line in log_file.read_text().splitlines() if "_AFTER " in line)
        timings.append((time.monotonic() - started, float(marks["TRAINED_AFTER"]), float(marks["DONE_AFTER"])))
    work, trained, done = min(timings)

    client = tracking.client(settings)
    rng = random.Random(7)
    phases: list[str] = []
    chains = 0
    while len(phases) < KILLS:
        assert chains < 4 * KILLS, f"{chains} chains for {len(phases)} kills: the work's length is off ({work:.1f} s)"
        name = f"bike_kill_{chains:02d}"
        chains += 1
        attempts = 0
        while True:
            log_file = logs / f"{name}.log"
            offset = log_file.stat().st_size if log_file.exists() else 0
            process = start_training(settings, name, log_file, ready)
            _wait_until_started(process, ready, log_file)
            attempts += 1
            if len(phases) < KILLS:
                # Every other kill aims at the registry steps (register, fingerprint, gate, promote): a short
                # stretch after the fit, where a half-done registration would be left if anywhere.
                if len(phases) % 2 == 0:
                    time.sleep(rng.uniform(0, work))
                else:  # once this attempt says its fit is logged
                    while "TRAINED_AFTER" not in log_file.read_text()[offset:] and process.poll() is None:
                        time.sleep(0.01)
                    time.sleep(rng.uniform(0, done - trained))
                process.send_signal(signal.SIGKILL)
            if process.wait(timeout=600) == 0:  # it got through before the kill (or was not to be killed)
                break
            assert process.returncode == -signal.SIGKILL, log_file.read_text()[-3000:]
            state = registry_state(client, name)
            phases.append(_phase(state))
            _assert_registry_sound(client, name, state)
        _assert_done_once(client, settings, name)

    with capsys.disabled():
        print(f"\nkill-training: {KILLS} kills over {chains} models, the work takes {work:.1f} s; killed in: ", end="")
        print({p: phases.count(p) for p in dict.fromkeys(phases)})
    assert len(set(phases)) >= 3, phases  # the kills really were spread over the run
