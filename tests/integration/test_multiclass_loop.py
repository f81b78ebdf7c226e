"""A multiclass model by configuration only: `flywheel-replay demo --model booking_outcome` as a user runs it, in
a fresh home, on a short replay (the first year, then three months of the loop).

booking_outcome (models/booking_outcome.yaml) predicts how a hotel booking ends (Check-Out, Canceled, No-Show)
from the bundled hotel data; what it must show: trained against its one-rule baseline with the multiclass metrics
and each class's recall, gated on macro ROC AUC, served with every class's probability and the value matrix's
decision, logged and labelled as class indices, judged by the canary on the same metric, and monitored with drift
of its decisions and an Evidently quality report for a multiclass classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flywheel.settings import Settings, get_settings
from tests.helpers import http_receiver, one_candidate_copies
from tests.integration.test_full_loop import _flywheel

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "booking_outcome"
CLASSES = ["Check-Out", "Canceled", "No-Show"]
DEMO = ["demo", "--model", MODEL, "--loop-months", "3", "--canary-runs-per-month", "2"]


@pytest.fixture(scope="module")
def outcome_demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("outcome")
    one_candidate_copies(get_settings().project_dir, home / "specs")  # the search is not under test here
    with http_receiver() as (url, receiver):
        stdout = _flywheel(home, DEMO, timeout=3600, webhook=f"{url}/alerts", command="flywheel-replay")
        packets = [json.loads(body) for _, body in receiver.received]
    assert packets and {p["model"] for p in packets} == {MODEL}  # on-call hears of it like of any model
    return home, stdout, Settings(home=home, project_dir=get_settings().project_dir)


def test_the_outcome_model_trains_against_its_baseline_with_multiclass_metrics(outcome_demo):
    home, stdout, settings = outcome_demo
    from flywheel.registry import tracking

    client = tracking.client(settings)
    first = client.get_model_version(MODEL, "1")
    metrics = client.get_run(first.run_id).data.metrics
    for name in ("roc_auc_ovr", "roc_auc_ovr_weighted", "log_loss", "f1_macro", *(f"recall__{c}" for c in CLASSES)):
        assert f"holdout_{name}" in metrics, name
    assert metrics["holdout_roc_auc_ovr"] - metrics["baseline_holdout_roc_auc_ovr"] >= 0.05  # the gate's lift
    assert metrics["holdout_value_per_1000"] > metrics["baseline_holdout_value_per_1000"]
    assert "decision_threshold" not in metrics  # a value matrix decides, not a threshold
    card = client.download_artifacts(first.run_id, "model_card.md", str(home))
    text = Path(card).read_text()
    assert "macro ROC AUC (one-vs-rest)" in text and "| actual \\ decided | Check-Out | Canceled | No-Show |" in text
    assert "booking_outcome: mean macro ROC AUC (one-vs-rest)" in stdout


def test_the_service_answers_probabilities_and_logs_them_with_class_index_labels(outcome_demo):
    _, _, settings = outcome_demo
    from fastapi.testclient import TestClient

    from flywheel.data.warehouse import open_warehouse
    from flywheel.serving.app import create_app
    from flywheel.serving.schema import as_records
    from flywheel.specs import load_spec

    warehouse = open_warehouse(settings)
    logged = warehouse.query_df(
        "select p.score, p.decision, p.class_scores, l.label from ops.prediction_log p join ops.labels l "
        "on l.model = p.model and l.entity_id = p.entity_id where p.model = ? and p.status = 'ok'",
        (MODEL,),
    )
    assert len(logged) > 1000
    probabilities = np.array([json.loads(c) for c in logged["class_scores"]])
    assert probabilities.shape[1] == 3 and np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.allclose(probabilities[np.arange(len(logged)), logged["decision"]], logged["score"])
    assert set(logged["label"].unique()) <= {0.0, 1.0, 2.0} and logged["label"].nunique() == 3

    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    row = warehouse.query_df(f"select * from marts.{spec.source.mart} limit 1")
    record = as_records(spec, row[spec.features.all])[0]  # as a client sends it: plain JSON values
    with TestClient(create_app(spec, settings)) as client:
        answer = client.post("/predict", json={"records": [{"entity_id": "x", **record}]})
    assert answer.status_code == 200, answer.text
    prediction = answer.json()["predictions"][0]
    assert list(prediction["probabilities"]) == CLASSES
    assert prediction["decision"] in CLASSES
    assert prediction["score"] == prediction["probabilities"][prediction["decision"]]


def test_gate_canary_and_monitor_judge_it_on_its_own_metric(outcome_demo):
    home, _, settings = outcome_demo
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import ledger

    entries = pd.DataFrame(ledger.history(open_warehouse(settings), MODEL, limit=10_000))
    gated = entries[entries.event.isin(["blessed", "rejected"])]
    assert len(gated) >= 2  # the first champion and at least one retrained version
    for evidence in gated.evidence:  # the gate's record: every check in the model's own metric
        verdict = json.loads(evidence)
        assert verdict["metric"] == "roc_auc_ovr"
        assert verdict["checks"][0]["detail"].startswith("macro ROC AUC (one-vs-rest)")
    assert (entries.event == "canary_started").any()

    packets = [json.loads(v.read_text()) for v in sorted((home / "reports" / MODEL / "monitor").rglob("verdict.json"))]
    assert len(packets) == 3
    drift = [p["prediction_drift"] for p in packets if p["prediction_drift"]]
    # Its prediction is the decided class: its drift reads as shares of classes, not a shift of a score.
    assert drift and all(any(f"'{c}'" in d["direction"] for c in CLASSES) for d in drift if d["drifted"])
    assert any(p["quality"] and p["quality"]["metric"] == "roc_auc_ovr" for p in packets)
    quality = sorted((home / "reports" / MODEL / "monitor").rglob("quality.html"))
    assert quality and b"Check-Out" in quality[-1].read_bytes()
