"""The monitor's judgement of a window on hand-made inputs: no model, registry, store or warehouse.

Quality in the metric's direction, the figures charted, the retrain action, and the alert packet: its severity, the
start of the unbroken run ("since"), what on-call is told to do, and whether on-call hears of the window at all."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import numpy as np
import pytest

from flywheel.core.packet import AlertPacket, CanarySummary, DriftImpact, EstimatedQuality, ReportLinks, UpstreamNode
from flywheel.core.tasks import METRICS
from flywheel.decisions import monitor
from flywheel.decisions.monitor import Context, PastWindow
from flywheel.decisions.monitor_evidence import WindowEvidence
from flywheel.decisions.monitor_result import MonitorResult
from flywheel.decisions.retrain import RetrainRequest, WindowRecord
from flywheel.monitoring.drift import ColumnDrift, DriftVerdict
from flywheel.specs import MonitorSpec, QualityPolicySpec

JULY = (datetime(2016, 7, 1), datetime(2016, 8, 1))
POLICY = MonitorSpec.model_validate(
    {
        "name": "hotel_cancellation",
        "quality": {"min_labelled_rows": 100, "max_drop": 0.03},
        "retrain": {
            "critical_windows_in_a_row": 2,
            "cooldown_days": 20,
            "max_retrains": 3,
            "budget_period_days": 180,
            "min_new_labelled_rows": 1000,
        },
        "alerts": {"quiet_period_hours": 24, "routes": [{"kind": "log"}]},
    }
)


def _column(name: str, drifted: bool, statistic: float = 0.3) -> ColumnDrift:
    return ColumnDrift(name, "numeric", "wasserstein", statistic if drifted else 0.02, 0.1, drifted, "higher", 0, 0)


def _verdict(severity: str, drifted: tuple[str, ...] = ()) -> DriftVerdict:
    columns = [_column(c, True) for c in drifted] + [_column(f"steady_{i}", False) for i in range(4)]
    return DriftVerdict(severity, f"{len(drifted)} drifted", 4000, 5000, columns)


AT_RISK = DriftImpact(importance_share=0.62, limit=0.5, weighted=True, top=["lead_time 41%", "adr 21%"])
HARMLESS = DriftImpact(importance_share=0.04, limit=0.5, weighted=True, top=["adr 4%"])


def _estimate(estimate: float, live: float | None = None) -> EstimatedQuality:
    change = round(estimate - 0.9, 4)
    return EstimatedQuality(
        metric="roc_auc",
        method="CBPE",
        estimate=estimate,
        champion_holdout=0.9,
        change=change,
        limit=-0.03,
        threshold=0.87,
        rows=5000,
        live=live,
    )


def _evidence(
    severity: str = "critical",
    drifted: tuple[str, ...] = ("adr", "lead_time"),
    quality=None,
    impact: DriftImpact | str | None = "by drift",
    estimate: EstimatedQuality | None = None,
):
    """``impact`` by default: drifted features carry most of the importance, or none drifted."""
    if impact == "by drift":
        impact = AT_RISK if drifted else DriftImpact(importance_share=0.0, limit=0.5, weighted=True)
    return WindowEvidence(
        model="hotel_cancellation",
        champion="2",
        window=JULY,
        verdict=_verdict(severity, drifted),
        target=None,
        quality=quality,
        reference_description="same months of the training window",
        labelled_rows=5000,
        logged_predictions=4800,
        estimate=estimate,
        impact=impact,
    )


def _context(history=(), requests=(), past_live=(), canary_running=False, new_labels=5000) -> Context:
    return Context(
        history=list(history),
        requests=list(requests),
        past_live=list(past_live),
        canary=CanarySummary(status="none", summary="no challenger, no canary running"),
        canary_running=canary_running,
        new_labelled_rows=new_labels,
        upstream_dbt={"adr": [UpstreamNode(node="model:stg_hotel__bookings", file="models/staging/x.sql")]},
        report=ReportLinks(html="reports/r.html", json="reports/e.json", verdict="reports/v.json"),
        runbook="docs/runbooks/drift.md",
    )


def _quality(change: float) -> monitor.Quality:
    return monitor.Quality(
        metric="roc_auc",
        live=0.9 + change,
        champion_holdout=0.9,
        change=change,
        limit=-0.03,
        threshold=0.87,
        labelled_rows=5000,
    )


def test_quality_is_judged_in_the_metric_direction_and_needs_enough_labels():
    labels, policy = np.array([10.0, 20.0, 30.0, 40.0] * 50), QualityPolicySpec(min_labelled_rows=100, max_drop=2.0)
    worse = monitor.quality(METRICS["mae"], labels, labels + 5.0, 1.0, policy)  # live MAE 5 vs holdout 1
    assert worse is not None and worse.change == -4.0 and worse.dropped and worse.drop == 4.0
    assert worse.threshold == 3.0  # an error: the worst acceptable value lies above the holdout figure
    better = monitor.quality(METRICS["mae"], labels, labels + 0.5, 1.0, policy)
    assert better is not None and better.change == 0.5 and not better.dropped
    assert monitor.quality(METRICS["mae"], labels[:99], labels[:99], 1.0, policy) is None  # too few labels
    assert monitor.quality(METRICS["mae"], labels, labels, None, policy) is None  # no holdout figure to compare


def test_a_second_critical_window_retrains_and_alerts_with_the_whole_story():
    history = [WindowRecord(datetime(2016, 7, 1), "2", "critical", ("adr",))]
    past = [PastWindow(datetime(2016, 6, 1), "critical"), PastWindow(datetime(2016, 5, 1), "none")]
    judged = monitor.judge(_evidence(), _context(history, past_live=past), POLICY)
    assert judged.decision.action == "retrain" and judged.decision.trigger == "drift"
    packet = judged.packet
    assert judged.alerting and packet.action == "alert" and packet.severity == "critical"
    assert packet.since == "2016-06-01T00:00:00"  # critical since June: May was calm
    assert [f.column for f in packet.drifted_features] == ["adr", "lead_time"] and packet.judged_features == 6
    assert packet.prediction_drift is None and packet.retrain.action == "retrain"
    # No labels yet, and the drifted features carry 62% of the model's importance: quality is at risk.
    assert packet.what_to_do[0].startswith("Quality is at risk before the labels can tell: drifted features carry 62%")
    assert "lead_time 41%" in packet.what_to_do[0] and "let the retrain policy act" in packet.what_to_do[2]
    assert packet.drift_impact == AT_RISK
    assert AlertPacket.model_validate_json(packet.to_json()) == packet  # what the store keeps reads back whole


def test_a_calm_window_sends_nothing_and_records_its_figures():
    judged = monitor.judge(_evidence("none", ()), _context(), POLICY)
    assert judged.decision.action == "none" and not judged.alerting
    figures = {(row.metric, row.subject): row for row in judged.metrics}
    assert figures[("severity", "none")].value == 0 and not figures[("severity", "none")].flagged
    assert figures[("rows", "logged_predictions")].value == 4800
    assert len([r for r in judged.metrics if r.metric.startswith("drift.")]) == 4


def test_a_quality_drop_retrains_even_without_drift_and_is_flagged():
    judged = monitor.judge(_evidence("none", (), quality=_quality(-0.05)), _context(), POLICY)
    assert judged.decision.action == "retrain" and judged.decision.trigger == "quality"
    assert next(r for r in judged.metrics if r.metric == "quality.roc_auc").flagged
    assert judged.packet.quality is not None and judged.packet.quality.dropped
    # Quality at risk is what on-call is for: it alerts as critical with the numbers, however calm the inputs.
    assert judged.alerting and judged.packet.severity == "critical"
    assert judged.packet.what_to_do[0].startswith("Live roc_auc is 0.8500 against the champion's holdout 0.9000")
    assert "(-0.0500, limit -0.0300) on 5,000 labelled rows" in judged.packet.what_to_do[0]


def test_a_running_canary_suppresses_the_retrain_and_says_so():
    history = [WindowRecord(datetime(2016, 7, 1), "2", "critical", ("adr",))]
    judged = monitor.judge(_evidence(), _context(history, canary_running=True), POLICY)
    assert judged.decision.action == "suppressed" and "canary is running" in judged.decision.reason


def test_drift_that_persists_after_its_retrain_pages_a_person():
    history = [WindowRecord(datetime(2016, 7, 1), "1", "critical", ("adr", "lead_time"))]
    requests = [RetrainRequest(datetime(2016, 7, 1), "drift", "1", ("adr", "lead_time"))]
    judged = monitor.judge(_evidence(), _context(history, requests), POLICY)
    assert judged.decision.action == "page" and judged.alerting
    assert judged.packet.action == "page" and judged.packet.severity == "critical"
    assert judged.packet.what_to_do[0].startswith("Retraining did not absorb this drift")


@pytest.mark.parametrize(
    ("past", "since"),
    [
        ([], datetime(2016, 7, 1)),
        ([PastWindow(datetime(2016, 6, 1), "warning")], datetime(2016, 7, 1)),  # a milder month breaks the run
        (
            [PastWindow(datetime(2016, 6, 1), "critical"), PastWindow(datetime(2016, 5, 1), "critical")],
            datetime(2016, 5, 1),
        ),
    ],
)
def test_since_is_the_start_of_the_unbroken_run(past, since):
    assert monitor.since("critical", JULY, past) == since


def test_a_result_crosses_xcom_and_the_warehouse_unchanged():
    result = MonitorResult(
        model="hotel_cancellation",
        mode="live",
        window_start=JULY[0],
        window_end=JULY[1],
        champion="2",
        severity="critical",
        drifted=("adr", "lead_time"),
        quality_drop=0.05,
        action="retrain",
        trigger_kind="drift",
        reason="critical drift in 2 windows in a row",
        report_uri="reports/r.html",
        packet="hotel_cancellation/monitor/2016-07-01_2016-08-01/verdict.json",
    )
    assert result.requests_retrain and result.alerting
    assert MonitorResult.model_validate(result.model_dump(mode="json")) == result
    row = {"model": "hotel_cancellation", "mode": "live", **result.record(), "decided_at": datetime(2026, 1, 1)}
    again = MonitorResult.from_record(row | {"quality_drop": float("nan"), "trigger_kind": None}, already_judged=True)
    assert again.drifted == ("adr", "lead_time") and again.quality_drop is None
    assert not again.requests_retrain and not again.alerting  # a re-run requests and sends nothing again


def test_the_decisions_import_no_registry_store_warehouse_or_airflow():
    code = (
        "import sys; import flywheel.decisions.monitor, flywheel.decisions.canary, flywheel.decisions.retrain; "
        "print(sorted(m for m in ('mlflow', 'boto3', 'duckdb', 'psycopg', 'airflow', 'sqlalchemy', 'evidently') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_an_alert_names_the_report_or_says_there_is_none():
    """The text on-call reads links only what exists: the report, or, without one, the verdict."""
    from dataclasses import replace

    from flywheel.monitoring.alerts import summary_lines

    with_report = monitor.judge(_evidence(), _context(), POLICY).packet
    assert "Report: reports/r.html" in summary_lines(with_report)
    verdict_only = replace(_context(), report=ReportLinks(verdict="reports/v.json"))
    lines = summary_lines(monitor.judge(_evidence(), verdict_only, POLICY).packet)
    assert "Report: none for this window (too few rows for a drift verdict); verdict: reports/v.json" in lines


def test_windows_without_a_verdict_raise_unmonitored_from_the_third_in_a_row():
    """A small model whose windows all fall below `drift.min_rows` is not silently unwatched (default: 3 windows)."""
    small = WindowEvidence(
        **{
            **vars(_evidence("insufficient_data", ())),
            "verdict": DriftVerdict("insufficient_data", "30 rows < min_rows 500", 5000, 30, []),
        }
    )
    one_before = [PastWindow(datetime(2016, 6, 1), "insufficient_data"), PastWindow(datetime(2016, 5, 1), "none")]
    quiet = monitor.judge(small, _context(past_live=one_before), POLICY)
    assert not quiet.alerting and quiet.packet.unmonitored_windows == 2

    two_before = [
        PastWindow(datetime(2016, 6, 1), "insufficient_data"),
        PastWindow(datetime(2016, 5, 1), "insufficient_data"),
    ]
    judged = monitor.judge(small, _context(past_live=two_before), POLICY)
    packet = judged.packet
    assert judged.alerting and packet.severity == "warning" and packet.unmonitored_windows == 3
    assert packet.since == "2016-05-01T00:00:00"  # the first window of the run without a verdict
    assert packet.what_to_do[0].startswith("No drift verdict for 3 windows in a row: this one has 30 rows")
    assert "drift.min_rows" in packet.what_to_do[1] and packet.what_to_do[2].endswith("#unmonitored")
    assert judged.decision.action == "none"  # nothing to retrain on: it is a person's problem


def test_a_window_too_small_for_a_verdict_still_reports_a_vanished_category():
    from flywheel.monitoring.categories import CategoryChange

    gone = CategoryChange("agent", "9", "vanished", 0.4, 0.0, 30)
    verdict = DriftVerdict("insufficient_data", "30 rows < min_rows 500", 5000, 30, [], categories=[gone])
    small = WindowEvidence(**{**vars(_evidence("insufficient_data", ())), "verdict": verdict})
    judged = monitor.judge(small, _context(), POLICY)
    assert judged.alerting and judged.packet.severity == "warning" and judged.decision.action == "none"
    assert [(c.column, c.category, c.change) for c in judged.packet.category_changes] == [("agent", "9", "vanished")]
    assert judged.packet.what_to_do[0] == "agent '9' vanished (40.0% -> 0.0% of 30 rows)"
    assert judged.packet.what_to_do[1].startswith("No drift verdict for this window: this one has 30 rows")
    from flywheel.monitoring.alerts import summary_lines

    assert "Categories: agent '9' vanished (40.0% -> 0.0%)" in summary_lines(judged.packet)


def test_drift_that_puts_nothing_at_risk_is_reported_never_paged():
    """Inputs that moved in features the model barely uses, or while its measured quality holds, warn (log route)
    and may still retrain by policy, but never page."""
    history = [WindowRecord(datetime(2016, 7, 1), "2", "critical", ("adr",))]
    harmless = monitor.judge(_evidence(impact=HARMLESS), _context(history), POLICY)
    assert harmless.packet.severity == "warning" and harmless.packet.action == "alert"
    assert harmless.decision.action == "retrain"  # drift still retrains (cheap, gated, canaried); it does not page
    assert "carry 4% of the model's importance (at risk from 50%)" in harmless.packet.what_to_do[1]
    measured_fine = monitor.judge(_evidence(quality=_quality(-0.01)), _context(history), POLICY)
    assert measured_fine.packet.severity == "warning"  # labels settle it: the measured figure outweighs the drift
    assert "the live quality is within its limit" in measured_fine.packet.what_to_do[1]
    rows = {r.metric: r for r in measured_fine.metrics}
    assert rows["alert_severity"].subject == "warning" and not rows["alert_severity"].flagged
    assert rows["at_risk_before_labels"].flagged  # what the replay's scorer counts as flagged before labels


def test_an_estimated_drop_before_labels_is_critical_and_labels_overrule_it():
    low = _estimate(0.84)
    before = monitor.judge(_evidence("none", (), impact=HARMLESS, estimate=low), _context(), POLICY)
    assert before.packet.severity == "critical" and before.alerting
    assert before.packet.what_to_do[0].startswith("Quality is at risk before the labels can tell: estimated roc_auc")
    assert before.packet.quality_estimate == low
    rows = {r.metric: r for r in before.metrics}
    assert rows["quality_estimate.roc_auc"].value == 0.84 and rows["quality_estimate.roc_auc"].flagged
    assert rows["quality_estimate.roc_auc"].threshold == 0.87
    from flywheel.monitoring.alerts import summary_lines

    text = summary_lines(before.packet)
    assert text[0].startswith(
        "[CRITICAL] hotel_cancellation v2: quality at risk before labels in the window 2016-07-01"
    )
    assert (
        "Estimated before labels: roc_auc 0.8400 (-0.0600 against the holdout; worse than 0.8700 is a drop" in text[3]
    )
    after = monitor.judge(
        _evidence("none", (), quality=_quality(0.0), impact=HARMLESS, estimate=_estimate(0.84, 0.9)), _context(), POLICY
    )
    assert after.packet.severity == "none" and not after.alerting  # the labels say the model is fine


def test_persisting_drift_pages_only_when_quality_is_at_risk():
    history = [WindowRecord(datetime(2016, 7, 1), "1", "critical", ("adr", "lead_time"))]
    requests = [RetrainRequest(datetime(2016, 7, 1), "drift", "1", ("adr", "lead_time"))]
    judged = monitor.judge(_evidence(quality=_quality(0.0)), _context(history, requests), POLICY)
    assert judged.decision.action == "none" and judged.packet.severity == "warning"
    assert judged.decision.reason.endswith("but quality is not at risk: not paged")


def test_since_follows_the_alert_not_the_drift_verdict():
    """Months of drift warnings, then a quality drop: critical since this window, not since the first warning."""
    past = [PastWindow(datetime(2016, 6, 1), "critical", "warning"), PastWindow(datetime(2016, 5, 1), "critical")]
    judged = monitor.judge(_evidence(quality=_quality(-0.05)), _context(past_live=past), POLICY)
    assert judged.packet.severity == "critical" and judged.packet.since == "2016-07-01T00:00:00"
