"""Retraining by continuing the champion, through the train job and the gate, with a real MLflow store: a warm
start on two new months continues v1 (its trees, bins and threshold, no search) for a fraction of a full training's
CPU, says so on its run and card, and is blessed; a warm start that saw one market segment only (an upstream that
delivered group bookings alone) has forgotten what v1 knew and the gate refuses it with the figure; the next
training after that refusal is a full one."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from flywheel.decisions.retrain_strategy import training_strategy
from flywheel.jobs import train as train_job
from flywheel.registry import register, tracking
from flywheel.registry.lineage import lineage_tags
from flywheel.specs import load_spec
from flywheel.training.dataset import Snapshot, load_snapshot, time_split
from flywheel.training.warm_start import fit_warm_start
from flywheel.workspace import Workspace
from tests.helpers import build_loop_until

pytestmark = pytest.mark.integration

MODEL = "hotel_cancellation"


@pytest.fixture(scope="module")
def settings(tmp_path_factory, template):
    # v1 on 2015-07 .. 2016-06 (the small spec: 50 iterations, one candidate), then two more months.
    settings = template("hotel_first_year", tmp_path_factory.mktemp("warm_start"))
    path = settings.models_dir / f"{MODEL}.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["retrain"] = {"strategy": "warm_start", "extra_iterations": 30, "full_every": 3}
    spec["gates"]["max_forgetting"] = 0.02
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    build_loop_until(settings, "2016-08", "2016-07")
    return settings


def _verdict_checks(workspace: Workspace, version: str) -> dict[str, tuple[bool, str]]:
    tags = workspace.registry.mlflow.get_model_version(MODEL, version).tags
    run_id = workspace.registry.mlflow.get_model_version(MODEL, version).run_id
    verdict = mlflow.artifacts.load_dict(f"runs:/{run_id}/gate/verdict-v{version}.json")
    assert tags["flywheel.blessed"] in ("true", "false")
    return {c["name"]: (c["passed"], c["detail"]) for c in verdict["checks"]}


def test_a_warm_start_continues_the_champion_for_a_fraction_of_the_cpu_and_is_blessed(settings):
    workspace = Workspace(settings)
    client = workspace.registry.mlflow
    run = client.get_run(train_job.train(workspace, MODEL, reason="test: two new months"))
    full = client.get_run(client.get_model_version(MODEL, "1").run_id)
    assert run.data.tags[tracking.STRATEGY_TAG] == "warm_start" and run.data.tags[tracking.WARM_STARTS_TAG] == "1"
    assert full.data.tags[tracking.STRATEGY_TAG] == "full"
    assert run.data.params["fitted_from"] == "2015-07" and run.data.params["fitted_until"] == "2016-08"
    assert {k: v for k, v in run.data.params.items() if k.startswith("model.")} == {
        k: v for k, v in full.data.params.items() if k.startswith("model.")
    }
    warm_cpu, full_cpu = run.data.metrics["training_cpu_seconds"], full.data.metrics["training_cpu_seconds"]
    assert 0 < warm_cpu < full_cpu, (warm_cpu, full_cpu)
    assert run.data.metrics["training_peak_memory_mb"] > 100
    card = client.download_artifacts(run.info.run_id, "model_card.md")
    text = Path(card).read_text()
    assert "(no search: warm start: v1 (50 iterations, fitted 2015-07..2016-06) + 30 iterations on " in text
    assert "rows of 2016-07..2016-08)" in text
    # Cost on the books: the training's CPU priced, scoring per 1,000 rows, and the return against the baseline.
    assert "## Cost and return" in text and f"- Training: {warm_cpu:,.1f} CPU s (" in text, text
    assert "CPU s per 1,000 rows (the holdout scored at once)" in text and "the training is paid back after" in text
    assert run.data.metrics["scoring_cpu_seconds_per_1000"] > 0

    version = train_job.register_model(workspace, MODEL, run.info.run_id)
    assert train_job.gate_model(workspace, MODEL, version)
    passed, detail = _verdict_checks(workspace, version)["no_forgetting"]
    assert passed and detail.startswith("forgetting: on v1's holdout (2016-05..2016-06, ")


def test_a_warm_start_on_one_segment_forgot_and_is_refused_then_the_next_training_is_full(settings):
    workspace = Workspace(settings)
    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    snapshot = load_snapshot(spec, workspace.warehouse)
    frame = snapshot.frame
    new = pd.to_datetime(frame[spec.source.event_time_column]).dt.strftime("%Y-%m") > "2016-06"
    narrow = frame[~new | (frame["market_segment"] == "Groups")].reset_index(drop=True)
    split = time_split(Snapshot(narrow, "one-segment", snapshot.first_event, snapshot.last_event, ()), spec)
    result = fit_warm_start(spec, split, train_job.champion_to_continue(workspace, MODEL))
    assert result.continuation and "2016-07..2016-08" in result.continuation
    experiment = tracking.ensure_experiment(workspace.registry.mlflow, MODEL, settings)
    tags = {
        **lineage_tags(spec, settings.models_dir / f"{MODEL}.yaml", snapshot, settings),
        tracking.STRATEGY_TAG: "warm_start",
        tracking.WARM_STARTS_TAG: "1",
    }
    run_id = tracking.log_training_run(spec, snapshot, split, result, tags, experiment)
    version = train_job.register_model(workspace, MODEL, run_id)
    assert not train_job.gate_model(workspace, MODEL, version)
    passed, detail = _verdict_checks(workspace, version)["no_forgetting"]
    assert not passed, detail
    lost = float(detail.split("(lost +")[1].split(",")[0])
    assert lost > 0.02, detail
    assert register.alias_version(workspace.registry.mlflow, MODEL, "champion") == "1"

    decided = training_strategy(spec.retrain, train_job.registry_lineage(workspace, MODEL))
    assert (decided.strategy, decided.reason) == (
        "full",
        f"full: the last warm start (v{version}) was refused by the gate",
    )
