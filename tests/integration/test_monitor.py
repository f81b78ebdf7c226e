"""The monitor on real data, with a real MLflow registry and the report store on a real S3 server (moto):
the Evidently report (HTML + JSON) under stable names, the figures in the warehouse, the decision, and a re-run
of a judged window that changes nothing; a what-if replay that leaves the live history alone."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.jobs import monitor as monitor_job
from flywheel.monitoring import history
from flywheel.registry import ledger
from flywheel.storage import open_store
from flywheel.workspace import Workspace
from tests.helpers import build_loop_until, moto_s3_server

pytestmark = pytest.mark.integration

MODEL = "hotel_cancellation"
JULY = (datetime(2016, 7, 1), datetime(2016, 8, 1))
AUGUST = (datetime(2016, 8, 1), datetime(2016, 9, 1))


@pytest.fixture(scope="module")
def settings(tmp_path_factory, template):
    import boto3

    patch = pytest.MonkeyPatch()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        patch.setenv(key, "test")
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto_s3_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="reports")
        # The champion v1 on 2015-07 .. 2016-06 (the small spec: the monitor is under test, not the model).
        settings = template(
            "hotel_first_year",
            tmp_path_factory.mktemp("monitor"),
            reports_uri="s3://reports/flywheel",
            s3_endpoint_url=endpoint,
        )
        build_loop_until(settings, "2016-08", "2016-07")
        yield settings
    patch.undo()


def test_a_window_is_judged_reported_and_recorded(settings):
    from flywheel.data import predictions
    from flywheel.specs import load_spec

    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    predictions.publish_labels(spec, open_warehouse(settings), datetime(2016, 7, 31, 23, 59, 59))  # July's outcomes
    result = monitor_job.run_monitor(Workspace(settings), MODEL, JULY)
    assert result.severity in ("warning", "critical") and result.champion == "1"

    store = open_store(settings.reports_uri, settings.s3_endpoint_url)
    prefix = f"{MODEL}/monitor/2016-07-01_2016-08-01/"
    written = ("report.html", "evidently.json", "verdict.json", "quality.html", "quality.json")
    assert set(store.list(prefix + "*")) == {prefix + n for n in written}
    assert b"<html" in store.read_bytes(prefix + "report.html")[:2000].lower()
    assert result.report_uri == f"s3://reports/flywheel/{prefix}report.html"
    evidently = json.loads(store.read_bytes(prefix + "evidently.json"))
    assert any(m["config"].get("type") == "evidently:metric_v2:ValueDrift" for m in evidently["metrics"])

    packet = json.loads(store.read_bytes(prefix + "verdict.json"))
    assert packet["quality"]["metric"] == "roc_auc" and packet["quality"]["labelled_rows"] > 4000
    assert packet["report"]["quality_html"] == f"s3://reports/flywheel/{prefix}quality.html"
    assert "RocAuc" not in json.dumps(evidently)  # quality is not shown against the champion's own training rows
    assert "RocAuc" in store.read_bytes(prefix + "quality.json").decode()  # but against its out-of-sample holdout
    assert packet["target_drift"] is not None and packet["prediction_drift"]["rescored"] > 0  # no traffic logged here
    assert packet["upstream_dbt"][packet["drifted_features"][0]["column"]], "drifted columns name their dbt models"
    assert "arrival_month" not in {f["column"] for f in packet["drifted_features"]}  # ignored by the policy
    # Before labels: CBPE from the window's scores alone, shown beside the realised figure once labels are in.
    estimate = packet["quality_estimate"]
    assert estimate["live"] == packet["quality"]["live"] and 0.5 < estimate["estimate"] < 1.0
    assert estimate["method"].startswith("CBPE") and estimate["rows"] == packet["current_rows"]
    # The drift weighed by the importance the champion's training recorded on its holdout.
    impact = packet["drift_impact"]
    assert impact["weighted"] is True and 0.0 <= impact["importance_share"] <= 1.0
    expected = "critical" if packet["quality"]["change"] < packet["quality"]["limit"] else "warning"
    assert packet["severity"] == expected  # labels are in: they alone decide whether this pages

    metrics = open_warehouse(settings).query_df(
        f"select metric, subject, value, threshold, flagged from {history.METRICS} where model = ? and mode = 'live'",
        (MODEL,),
    )
    assert {
        "drift.wasserstein",
        "drift.jensenshannon",
        "prediction_drift",
        "severity",
        "drifted_share",
        "quality_estimate.roc_auc",
        "drift_importance_share",
        "at_risk_before_labels",
        "alert_severity",
    } <= set(metrics["metric"])
    assert len(metrics[metrics.metric.str.startswith("drift.")]) == 22  # 24 features, 2 calendar ones ignored
    cost = metrics[metrics.metric.str.startswith("monitor_cost.")].set_index("metric")["value"]
    assert 0 < cost["monitor_cost.cpu_seconds"] < 600 and 0 < cost["monitor_cost.wall_seconds"] < 600, cost


def test_re_running_a_judged_window_changes_nothing(settings):
    warehouse = open_warehouse(settings)
    before = len(ledger.history(warehouse, MODEL, limit=1000))
    again = monitor_job.run_monitor(Workspace(settings), MODEL, JULY)
    assert again.already_judged is True
    assert len(ledger.history(warehouse, MODEL, limit=1000)) == before
    assert len(history.decisions(warehouse, MODEL)) == 1


def test_a_what_if_replay_leaves_the_live_history_alone(settings):
    warehouse = open_warehouse(settings)
    before = len(ledger.history(warehouse, MODEL, limit=1000))
    for window in (JULY, AUGUST):
        monitor_job.run_monitor(Workspace(settings), MODEL, window, mode="what_if")
    assert len(history.decisions(warehouse, MODEL, "what_if")) == 2
    assert len(history.decisions(warehouse, MODEL, "live")) == 1
    assert len(ledger.history(warehouse, MODEL, limit=1000)) == before
    store = open_store(settings.reports_uri, settings.s3_endpoint_url)
    assert store.exists(f"{MODEL}/monitor-what-if/2016-08-01_2016-09-01/report.html")


def test_a_window_without_a_report_links_none(settings):
    """A day of bookings is below the policy's `drift.min_rows`: no Evidently report is written, and neither the
    packet nor the decision links one (they point at the verdict, which exists)."""
    day = (datetime(2016, 8, 15), datetime(2016, 8, 16))  # a window end no other test judges
    result = monitor_job.run_monitor(Workspace(settings), MODEL, day, mode="what_if")
    assert result.severity == "insufficient_data"
    store = open_store(settings.reports_uri, settings.s3_endpoint_url)
    prefix = f"{MODEL}/monitor-what-if/2016-08-15_2016-08-16/"
    assert set(store.list(prefix + "*")) == {prefix + "verdict.json"}
    packet = json.loads(store.read_bytes(prefix + "verdict.json"))
    assert packet["report"]["html"] is None and packet["report"]["json"] is None
    assert packet["report"]["verdict"] == result.report_uri == f"s3://reports/flywheel/{prefix}verdict.json"


def test_a_window_of_rows_opens_where_the_last_judged_window_ended(settings):
    """``window: {rows: N}``: the daily check counts the rows since the last live window (July, judged above)."""
    from flywheel.jobs.monitor import open_rows_window
    from flywheel.specs import load_spec

    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    start, rows = open_rows_window(Workspace(settings), MODEL, datetime(2016, 8, 3))
    assert start == JULY[1]
    expected = open_warehouse(settings).fetch_all(
        f"select count(*) from marts.{spec.source.mart} where {spec.source.event_time_column} >= ? "
        f"and {spec.source.event_time_column} < ?",
        (datetime(2016, 8, 1), datetime(2016, 8, 3)),
    )[0][0]
    assert rows == expected and rows > 0
