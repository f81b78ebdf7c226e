"""`flywheel demo` end to end, as a user runs it, in a fresh home: the first champion, then 2016-07 .. 2017-08
through the whole loop (traffic through the service, labels, canary, monitor, drift-triggered retraining).

What it must show: a drift alert no later than the 2017-07 window, reaching a real webhook receiver with every
field of the packet; live ROC AUC over the replay above a never-retrained first model's; retrains within the
policy's budget with every suppression explained; each retrained version's run says why it was trained."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flywheel.settings import Settings, get_settings
from tests.helpers import http_receiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "hotel_cancellation"
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
}


def _clean_env(home: Path, webhook: str) -> dict[str, str]:
    """The user's environment: nothing from this test process's embedded setup, one home, one webhook."""
    prefixes = ("AIRFLOW", "MLFLOW", "FLYWHEEL_", "DBT_", "GX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, "FLYWHEEL_HOME": str(home), "FLYWHEEL_ALERT_WEBHOOK_URL": webhook}


def _flywheel(home: Path, args: list[str], timeout: float, webhook: str = "http://127.0.0.1:9/unused") -> str:
    """``flywheel <args>`` as a user runs it on ``home``; returns its output, fails with its tail."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "flywheel"), *args],
        cwd=get_settings().project_dir,
        env=_clean_env(home, webhook),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    (home / f"flywheel-{args[0]}-output.txt").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    with http_receiver() as (url, receiver):
        stdout = _flywheel(home, ["demo"], timeout=2400, webhook=f"{url}/alerts")
        yield home, stdout, [json.loads(body) for _, body in receiver.received]


def test_a_drift_alert_with_every_field_arrives_by_the_2017_07_window(demo):
    _, _, packets = demo
    assert packets, "no alert reached the webhook"
    first = min(p["window"]["start"] for p in packets)
    assert first <= "2017-07-01"
    for packet in packets:
        assert set(packet) == PACKET_FIELDS
        assert packet["model"] == MODEL and packet["severity"] in ("warning", "critical")
        for feature in packet["drifted_features"]:
            assert {"column", "statistic", "threshold", "direction"} <= set(feature)
            assert feature["statistic"] >= feature["threshold"]
        assert packet["report"]["html"].endswith("report.html") and Path(packet["report"]["html"]).is_file()
        assert packet["runbook"] == "docs/runbooks/drift.md" and packet["what_to_do"]
        assert packet["canary"]["summary"] and packet["retrain"]["action"]
    assert any(p["quality"] for p in packets), "labels arrive during the replay: some packet carries quality"
    assert any(p["upstream_dbt"] and any(p["upstream_dbt"].values()) for p in packets)


def test_the_looped_model_beats_the_never_retrained_one(demo):
    home, stdout, _ = demo
    figures = pd.read_csv(home / "reports" / MODEL / "demo" / "live_auc.csv", index_col="month")
    assert list(figures.index) == [str(p) for p in pd.period_range("2016-07", "2017-08", freq="M")]
    assert figures["live_auc"].mean() > figures["first_model_auc"].mean()
    assert (home / "reports" / MODEL / "demo" / "live_auc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Mean live ROC AUC over 2016-07 .. 2017-08" in stdout


def test_retrains_stay_within_the_policy_and_every_suppression_is_explained(demo):
    home, _, _ = demo
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import ledger, tracking
    from flywheel.specs import load_monitor_spec

    settings = Settings(home=home, project_dir=get_settings().project_dir)
    entries = pd.DataFrame(ledger.history(open_warehouse(settings), MODEL, limit=10_000))
    requests = entries[entries.event == "retrain_requested"]
    suppressed = entries[entries.event == "retrain_suppressed"]
    policy = load_monitor_spec(settings.monitoring_dir / f"{MODEL}.yaml").retrain
    assert 1 <= len(requests) <= policy.max_retrains * 2  # two budget periods at most in 14 months
    assert len(suppressed) >= 1
    guards = ("canary is running", "cooldown", "budget", "new labelled rows")
    assert all(any(g in reason for g in guards) for reason in suppressed.reason)

    client = tracking.client(settings)
    runs = client.search_runs([client.get_experiment_by_name(MODEL).experiment_id])
    reasons = [r.data.tags.get("flywheel.trigger_reason", "") for r in runs]
    retrained = [r for r in reasons if "(window " in r]  # the monitor's reason, carried by the asset event
    assert len(retrained) == len(requests), reasons


def test_a_what_if_replay_shows_the_policy_without_touching_live_history(demo):
    home, _, _ = demo
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring import history
    from flywheel.registry import ledger

    settings = Settings(home=home, project_dir=get_settings().project_dir)
    warehouse = open_warehouse(settings)
    live_before = history.decisions(warehouse, MODEL, "live")
    ledger_before = len(ledger.history(warehouse, MODEL, limit=10_000))
    stdout = _flywheel(home, ["monitor", "--from", "2017-06", "--to", "2017-08"], timeout=600)
    assert "Monitor, window by window" in stdout and "2017-08" in stdout
    what_if = history.decisions(warehouse, MODEL, "what_if")
    assert [str(w)[:7] for w in what_if.window_start] == ["2017-06", "2017-07", "2017-08"]
    assert history.decisions(warehouse, MODEL, "live").equals(live_before)
    assert len(ledger.history(warehouse, MODEL, limit=10_000)) == ledger_before


def test_running_the_demo_again_changes_nothing(demo):
    home, _, _ = demo
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import ledger, tracking

    settings = Settings(home=home, project_dir=get_settings().project_dir)
    client = tracking.client(settings)
    versions = {v.version for v in client.search_model_versions(f"name = '{MODEL}'")}
    entries = len(ledger.history(open_warehouse(settings), MODEL, limit=10_000))
    stdout = _flywheel(home, ["demo"], timeout=1200)
    assert "@champion exists; retraining is the monitor's decision" in stdout
    assert {v.version for v in client.search_model_versions(f"name = '{MODEL}'")} == versions
    assert len(ledger.history(open_warehouse(settings), MODEL, limit=10_000)) == entries
