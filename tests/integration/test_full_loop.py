"""`flywheel-replay demo` end to end, as a user runs it, in a fresh home, for the three shipped models side by side
(their shipped specs, each search cut to its first candidate: tests.helpers.one_candidate_copies), on a short replay:
each model's first champion on its first year, then the first three months of its loop (traffic through the service,
labels, canary, monitor, drift- and quality-triggered retraining): hotel_cancellation 2016-07 .. 2016-09
(classification), bike_demand 2012-01 .. 2012-03 (regression) and booking_outcome 2016-07 .. 2016-09 (multiclass, on
the same bookings: one ingest and one dbt build serve both hotel models). Three months are enough for the two first
models to retrain, promote the retrained version through shadow (hotel: and 50 %), and retrain again; the hotel model
also suppresses a retrain while its canary runs (August); the outcome model retrains once, in September.

What it must show: drift alerts reaching a real webhook receiver with every field of the packet; retrains within
the policy's budget with every suppression explained and one promotion of a retrained version per model; each
retrained version's run says why it was trained; the month table, CSV and chart of the live primary metric; no
cross-talk (each model's prediction log, reports and alerts name only that model); a second demo changes nothing.
A multiclass model by configuration only (models/booking_outcome.yaml: how a booking ends, Check-Out, Canceled or
No-Show): trained against its one-rule baseline with the multiclass metrics and each class's recall, gated on macro
ROC AUC, served with every class's probability and the value matrix's decision, logged and labelled as class indices,
judged by the canary on the same metric, monitored with drift of its decisions and a multiclass quality report.

Whether the looped model beats a never-retrained one needs the whole replay (14 and 12 months): `make bench`
(benchmarks/full_loop.py) runs it and fails when it does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flywheel.settings import Settings, get_settings
from tests.helpers import http_receiver, one_candidate_copies
from tests.integration.demo_run import flywheel

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "hotel_cancellation"
BIKE = "bike_demand"
OUTCOME = "booking_outcome"
MODELS = (MODEL, BIKE)  # the month-by-month checks; the outcome model's own are at the end
EVERY_MODEL = (MODEL, BIKE, OUTCOME)
CLASSES = ["Check-Out", "Canceled", "No-Show"]
LOOP_MONTHS = 3
LOOPS = {MODEL: ("2016-07", "2016-09", "ROC AUC"), BIKE: ("2012-01", "2012-03", "MAE")}
# The demo's canary runs weekly (four times a replayed month); twice keeps the suite's replay within its time
# budget, and the decisions are made by the same code at either cadence.
DEMO = ["demo", "--loop-months", str(LOOP_MONTHS), "--canary-runs-per-month", "2"]
DEMO += [arg for model in EVERY_MODEL for arg in ("--model", model)]
PACKET_FIELDS = {
    "model",
    "version",
    "action",
    "severity",
    "window",
    "since",
    "verdict",
    "reference",
    "current_rows",
    "reference_rows",
    "drifted_features",
    "judged_features",
    "prediction_drift",
    "target_drift",
    "quality",
    "upstream_dbt",
    "canary",
    "retrain",
    "report",
    "runbook",
    "what_to_do",
    "category_changes",
    "unmonitored_windows",
    "quality_estimate",
    "drift_impact",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    one_candidate_copies(get_settings().project_dir, home / "specs")
    with http_receiver() as (url, receiver):
        stdout = flywheel(home, DEMO, timeout=3600, webhook=f"{url}/alerts", command="flywheel-replay")
        yield home, stdout, [json.loads(body) for _, body in receiver.received]


def test_drift_alerts_with_every_field_arrive(demo):
    _, _, packets = demo
    assert packets, "no alert reached the webhook"
    for model, (first_month, _, _) in LOOPS.items():  # both first windows are critical and alert
        first_window = min(p["window"]["start"] for p in packets if p["model"] == model)
        assert first_window.startswith(first_month), (model, first_window)
    for packet in packets:
        assert set(packet) == PACKET_FIELDS
        assert packet["model"] in EVERY_MODEL and packet["severity"] in ("warning", "critical")
        for feature in packet["drifted_features"]:
            assert {"column", "statistic", "threshold", "direction"} <= set(feature)
            assert feature["statistic"] >= feature["threshold"]
        assert packet["report"]["html"].endswith("report.html") and Path(packet["report"]["html"]).is_file()
        assert packet["runbook"] == "docs/runbooks/drift.md" and packet["what_to_do"]
        assert packet["canary"]["summary"] and packet["retrain"]["action"]
    assert any(p["quality"] for p in packets), "labels arrive during the replay: some packet carries quality"
    assert any(p["upstream_dbt"] and any(p["upstream_dbt"].values()) for p in packets)


@pytest.mark.parametrize("model", MODELS)
def test_the_live_metric_is_charted_month_by_month_beside_the_never_retrained_model(demo, model):
    home, stdout, _ = demo
    first, last, label = LOOPS[model]
    figures = pd.read_csv(home / "reports" / model / "demo" / "live_quality.csv", index_col="month")
    assert list(figures.index) == [str(p) for p in pd.period_range(first, last, freq="M")]
    assert set(figures["metric"]) == ({"mae"} if model == BIKE else {"roc_auc"})
    yardsticks = ["live", "first_model", "cron_monthly", "same_budget_schedule"]
    assert figures[yardsticks].notna().all().all()
    assert (home / "reports" / model / "demo" / "live_quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"{model}: mean {label} over {first} .. {last}" in stdout

    summary = json.loads((home / "reports" / model / "demo" / "summary.json").read_text())
    assert summary["model"] == model and summary["months"] == list(figures.index)
    assert summary["higher_is_better"] is (model != BIKE)
    assert summary["looped"]["mean"] == round(figures["live"].mean(), 4)
    assert summary["cron_monthly"]["retrains"] == len(figures)  # one refit before every month
    # The calendar spends the loop's own budget: as many retrains as the loop requested, evenly spaced.
    assert summary["same_budget_schedule"]["retrains"] == summary["looped"]["retrains"] >= 1
    assert all(summary[arm]["mean"] is not None for arm in ("never_retrained", "cron_monthly", "same_budget_schedule"))
    # What the loop's own work cost, as its runs and the monitor recorded it (trainings after the first champion).
    costs = summary["costs"]
    assert costs["retrain_trainings"] >= 1 and costs["retrain_cpu_seconds"] > 0, costs
    assert costs["monitor_windows"] >= len(figures) - 1 and costs["monitor_cpu_seconds"] > 0, costs
    assert f"{costs['retrain_trainings']} trainings after the first" in stdout
    if model == MODEL:  # a value matrix: the loop's cost in money against the value it adds, and the ROI
        assert costs["currency"] == "EUR" and costs["value_over_baseline_per_1000_rows"] > 0
        assert 0 < costs["loop_cost_per_1000_rows"] < costs["value_over_baseline_per_1000_rows"] and costs["roi"] > 0
        assert "of the loop's cost per 1,000 rows" in stdout
    else:  # no business section: CPU seconds only
        assert "roi" not in costs


@pytest.mark.parametrize("model", MODELS)
def test_retrains_stay_within_the_policy_and_every_suppression_is_explained(demo, model):
    home, _, _ = demo
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import ledger, tracking
    from flywheel.specs import load_monitor_spec

    settings = Settings(home=home, project_dir=get_settings().project_dir)
    entries = pd.DataFrame(ledger.history(open_warehouse(settings), model, limit=10_000))
    requests = entries[entries.event == "retrain_requested"]
    suppressed = entries[entries.event == "retrain_suppressed"]
    policy = load_monitor_spec(settings.monitoring_dir / f"{model}.yaml").retrain
    assert 1 <= len(requests) <= policy.max_retrains  # one budget period at most in three months
    guards = ("canary is running", "cooldown", "budget", "new labelled rows")
    assert all(any(g in reason for g in guards) for reason in suppressed.reason)
    if model == MODEL:  # hotel: its critical windows come back inside the cooldown after each retrain
        assert len(suppressed) >= 1
    # bike_demand: its canary now ends within the month after a retrain, and no request came back inside the
    # cooldown in these months, so it may have nothing to suppress (with the 10 % / 50 % canary it had).
    promoted = entries[entries.event == "promoted"]
    assert (promoted.version != "1").sum() >= 1, "the loop promotes a retrained version through the canary"

    client = tracking.client(settings)
    runs = client.search_runs([client.get_experiment_by_name(model).experiment_id])
    reasons = [r.data.tags.get("flywheel.trigger_reason", "") for r in runs]
    retrained = [r for r in reasons if "(window " in r]  # the monitor's reason, carried by the asset event
    assert len(retrained) == len(requests), reasons


@pytest.mark.parametrize("model", MODELS)
def test_the_deployment_history_names_every_version_that_answered_and_when(demo, model):
    """`flywheel history <model> --json` against the prediction log: every version that answered requests (as
    champion or a live share, not shadow) has a time in service that begins in the month of its first answer (or
    the month before, when the canary moved it at a month's last second), and the days add up to the loop."""
    home, _, _ = demo
    history = json.loads(flywheel(home, ["history", model, "--json"], timeout=120))
    from flywheel.data import predictions
    from flywheel.data.warehouse import open_warehouse

    logged = open_warehouse(Settings(home=home, project_dir=get_settings().project_dir)).query_df(
        f"select p.version, min(l.event_time) as first from {predictions.PREDICTION_LOG} p join {predictions.LABELS} l "
        "on l.model = p.model and l.entity_id = p.entity_id where p.model = ? and p.source = 'api' "
        "and p.arm in ('champion', 'challenger') group by p.version",
        (model,),
    )
    served = {v["version"]: v for v in history["versions"] if v["first_answered"]}
    assert set(served) == set(logged.version.astype(str)), (served, logged)
    for row in logged.itertuples(index=False):
        began = pd.Period(served[str(row.version)]["first_answered"][:7], freq="M")
        assert pd.Period(row.first, freq="M") - began in (0 * began.freq, 1 * began.freq), (row, served)
    first, last, _ = LOOPS[model]
    days = sum(v["champion_days"] for v in history["versions"])
    # From the first champion's start (the loop's first day) to the end of the last window the monitor judged.
    loop_days = ((pd.Period(last, freq="M") + 1).start_time - pd.Period(first, freq="M").start_time).days
    assert abs(days - loop_days) <= 1, (days, loop_days)


def test_a_what_if_replay_shows_the_policy_without_touching_live_history(demo):
    home, _, _ = demo
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring import history
    from flywheel.registry import ledger

    settings = Settings(home=home, project_dir=get_settings().project_dir)
    warehouse = open_warehouse(settings)
    live_before = history.decisions(warehouse, MODEL, "live")
    ledger_before = len(ledger.history(warehouse, MODEL, limit=10_000))
    stdout = flywheel(home, ["monitor", "--model", MODEL, "--from", "2016-08", "--to", "2016-09"], timeout=600)
    assert "Monitor, window by window" in stdout and "2016-09" in stdout and "quality (estimate)" in stdout
    what_if = history.decisions(warehouse, MODEL, "what_if")
    assert [str(w)[:7] for w in what_if.window_start] == ["2016-08", "2016-09"]
    assert history.decisions(warehouse, MODEL, "live").equals(live_before)
    assert len(ledger.history(warehouse, MODEL, limit=10_000)) == ledger_before


def test_no_cross_talk_between_the_models(demo):
    """Each model's prediction log, reports, alerts, registry entries and ledger name only that model."""
    home, _, packets = demo
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import tracking

    settings = Settings(home=home, project_dir=get_settings().project_dir)
    warehouse = open_warehouse(settings)
    marts = {MODEL: ("ml_booking_features", "booking_key"), BIKE: ("ml_bike_demand_features", "rental_hour_key")}
    marts[OUTCOME] = ("ml_booking_outcome_features", "booking_key")
    for model in EVERY_MODEL:
        others = [m for m in EVERY_MODEL if m != model]
        # The service's log files: one folder per model, every row of it names that model.
        files = sorted((home / "predictions" / model).rglob("*.parquet"))
        assert files, f"{model}: no prediction log"
        logged = pd.concat(pd.read_parquet(f, columns=["model"]) for f in files)
        assert set(logged["model"]) == {model}
        # Logged entity ids are the model's own mart keys.
        spec_rows = warehouse.fetch_all(
            "select count(*) from ops.prediction_log where model = ? and entity_id not in "
            f"(select cast({marts[model][1]} as varchar) from marts.{marts[model][0]})",
            (model,),
        )
        assert spec_rows == [(0,)]
        # Reports: the monitor's packets and figures under <model>/ speak of that model only.
        texts = [p for p in (home / "reports" / model).rglob("*") if p.suffix in (".json", ".csv")]
        assert any(p.name == "verdict.json" for p in texts)
        for path in texts:
            text = path.read_text()
            assert not any(other in text for other in others), f"{path} names another model"
        for path in (home / "reports" / model).rglob("verdict.json"):
            assert json.loads(path.read_text())["model"] == model
        # Alerts: each packet's reports and runbook links are its own model's.
        for packet in (p for p in packets if p["model"] == model):
            assert not any(other in json.dumps(packet) for other in others)
            assert f"/{model}/monitor/" in packet["report"]["html"]
        # Registry: the model's versions come from runs in its own experiment.
        client = tracking.client(settings)
        experiment = client.get_experiment_by_name(model).experiment_id
        for version in client.search_model_versions(f"name = '{model}'"):
            assert client.get_run(version.run_id).info.experiment_id == experiment
    assert {p["model"] for p in packets} == set(EVERY_MODEL), "every monitor alerted during its replay"
    deliveries = warehouse.fetch_all("select distinct model from ops.alert_deliveries order by 1")
    assert deliveries == [(m,) for m in sorted(EVERY_MODEL)]


def test_the_outcome_model_trains_against_its_baseline_with_multiclass_metrics(demo):
    home, stdout, _ = demo
    settings = Settings(home=home, project_dir=get_settings().project_dir)
    from flywheel.registry import tracking

    client = tracking.client(settings)
    first = client.get_model_version(OUTCOME, "1")
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


def test_the_service_answers_probabilities_and_logs_them_with_class_index_labels(demo):
    settings = Settings(home=demo[0], project_dir=get_settings().project_dir)
    from fastapi.testclient import TestClient

    from flywheel.data.warehouse import open_warehouse
    from flywheel.serving.app import create_app
    from flywheel.serving.schema import as_records
    from flywheel.specs import load_spec

    warehouse = open_warehouse(settings)
    logged = warehouse.query_df(
        "select p.score, p.decision, p.class_scores, l.label from ops.prediction_log p join ops.labels l "
        "on l.model = p.model and l.entity_id = p.entity_id where p.model = ? and p.status = 'ok'",
        (OUTCOME,),
    )
    assert len(logged) > 1000
    probabilities = np.array([json.loads(c) for c in logged["class_scores"]])
    assert probabilities.shape[1] == 3 and np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.allclose(probabilities[np.arange(len(logged)), logged["decision"]], logged["score"])
    assert set(logged["label"].unique()) <= {0.0, 1.0, 2.0} and logged["label"].nunique() == 3

    spec = load_spec(settings.models_dir / f"{OUTCOME}.yaml")
    row = warehouse.query_df(f"select * from marts.{spec.source.mart} limit 1")
    record = as_records(spec, row[spec.features.all])[0]  # as a client sends it: plain JSON values
    with TestClient(create_app(spec, settings)) as client:
        answer = client.post("/predict", json={"records": [{"entity_id": "x", **record}]})
    assert answer.status_code == 200, answer.text
    prediction = answer.json()["predictions"][0]
    assert list(prediction["probabilities"]) == CLASSES
    assert prediction["decision"] in CLASSES
    assert prediction["score"] == prediction["probabilities"][prediction["decision"]]


def test_gate_canary_and_monitor_judge_it_on_its_own_metric(demo):
    home = demo[0]
    settings = Settings(home=home, project_dir=get_settings().project_dir)
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import ledger

    entries = pd.DataFrame(ledger.history(open_warehouse(settings), OUTCOME, limit=10_000))
    gated = entries[entries.event.isin(["blessed", "rejected"])]
    assert len(gated) >= 2  # the first champion and at least one retrained version
    for evidence in gated.evidence:  # the gate's record: every check in the model's own metric
        verdict = json.loads(evidence)
        assert verdict["metric"] == "roc_auc_ovr"
        assert verdict["checks"][0]["detail"].startswith("macro ROC AUC (one-vs-rest)")
    assert (entries.event == "canary_started").any()

    verdicts = sorted((home / "reports" / OUTCOME / "monitor").rglob("verdict.json"))
    packets = [json.loads(v.read_text()) for v in verdicts]
    assert len(packets) == 3
    drift = [p["prediction_drift"] for p in packets if p["prediction_drift"]]
    # Its prediction is the decided class: its drift reads as shares of classes, not a shift of a score.
    assert drift and all(any(f"'{c}'" in d["direction"] for c in CLASSES) for d in drift if d["drifted"])
    assert any(p["quality"] and p["quality"]["metric"] == "roc_auc_ovr" for p in packets)
    quality = sorted((home / "reports" / OUTCOME / "monitor").rglob("quality.html"))
    assert quality and b"Check-Out" in quality[-1].read_bytes()


def test_running_the_demo_again_changes_nothing(demo):
    home, _, _ = demo
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import ledger, tracking

    settings = Settings(home=home, project_dir=get_settings().project_dir)
    client = tracking.client(settings)

    def state() -> dict[str, tuple[set[str], int]]:
        return {
            m: (
                {v.version for v in client.search_model_versions(f"name = '{m}'")},
                len(ledger.history(open_warehouse(settings), m, limit=10_000)),
            )
            for m in EVERY_MODEL
        }

    before = state()
    stdout = flywheel(home, DEMO, timeout=1200, command="flywheel-replay")
    assert stdout.count("@champion exists; retraining is the monitor's decision") == len(EVERY_MODEL)
    assert state() == before
