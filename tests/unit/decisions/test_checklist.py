"""The pre-production checklist from evidence: each item's status and its evidence, and which failures block."""

from __future__ import annotations

from dataclasses import replace

from flywheel.decisions.checklist import ChecklistEvidence, as_markdown, checklist

LINEAGE = {
    "data_snapshot_sha256": "a" * 64,
    "data_first_event": "2015-07-01",
    "data_last_event": "2016-06-30",
    "spec_sha256": "b" * 64,
    "git_revision": "c" * 40,
}
GOOD = ChecklistEvidence(
    metric="ROC AUC",
    lift_over_baseline=0.14,
    min_lift=0.10,
    value_per_1000=15_955.0,
    baseline_value_per_1000=12_000.0,
    lineage=LINEAGE,
    segment_checks=(("segment:hotel=City Hotel", True), ("segment:hotel=Resort Hotel", True)),
    segments_measured=14,
    cv_metric=0.905,
    holdout_metric=0.910,
    higher_is_better=True,
    max_drop=0.01,
    champion="3",
    canary_stages="[shadow, 50 %]",
    deadline_hours=720,
    monitoring_policy=True,
    cost_recorded=True,
    disparity_gap=0.21,
    max_disparity=None,
    intended_use=True,
)


def _status(evidence: ChecklistEvidence) -> dict[str, str]:
    return {item.name: item.status for item in checklist(evidence)}


def test_a_version_with_all_its_evidence_passes_every_item():
    items = checklist(GOOD)
    assert [i.status for i in items] == ["passed"] * 7 and not any(i.blocks for i in items)
    evidence = {i.name: i.evidence for i in items}
    assert evidence["KPI and baseline stated"] == (
        "ROC AUC lift +0.1400 (needs 0.1); value per 1,000 rows 15,955 vs baseline 12,000"
    )
    assert "snapshot aaaaaaaaaaaa (2015-07-01 .. 2016-06-30)" in evidence["data versioned with lineage"]
    assert "@champion v3 keeps serving" in evidence["rollback plan and limits active"]
    assert "0.210 (not gated)" in evidence["risks and biases documented"]


def test_failed_required_items_block_and_say_why():
    bad = replace(
        GOOD,
        lift_over_baseline=0.02,
        lineage={k: v for k, v in LINEAGE.items() if k != "git_revision"},
        segment_checks=(("segment:market_segment=Groups", False),),
        monitoring_policy=False,
        disparity_gap=0.4,
        max_disparity=0.3,
    )
    items = {i.name: i for i in checklist(bad)}
    blocked = {name for name, item in items.items() if item.blocks}
    assert blocked == {
        "KPI and baseline stated",
        "data versioned with lineage",
        "results stable by segment",
        "monitoring of quality, drift, latency and cost",
        "risks and biases documented",
    }
    assert items["data versioned with lineage"].evidence == "missing on the run: git_revision"
    assert items["results stable by segment"].evidence == "worse than the champion in market_segment=Groups"
    assert "monitoring/<model>.yaml" in items["monitoring of quality, drift, latency and cost"].evidence


def test_results_over_time_are_advisory_and_a_first_version_has_no_segment_comparison():
    drifting = replace(GOOD, cv_metric=0.95, holdout_metric=0.90, segment_checks=(), champion=None)
    items = {i.name: i for i in checklist(drifting)}
    over_time = items["results stable over time"]
    assert (over_time.status, over_time.required, over_time.blocks) == ("failed", False, False)
    assert items["results stable by segment"].status == "passed"  # 14 values measured, none to compare yet
    assert "first version" in items["rollback plan and limits active"].evidence
    assert _status(replace(drifting, segments_measured=0))["results stable by segment"] == "not applicable"
    assert _status(replace(GOOD, cv_metric=None))["results stable over time"] == "not applicable"
    assert _status(replace(GOOD, disparity_gap=None))["risks and biases documented"] == "passed"


def test_the_checklist_reads_as_a_table():
    lines = as_markdown(checklist(GOOD))
    assert lines[0].startswith("## Pre-production checklist")
    assert "| results stable over time | passed (advisory) |" in "\n".join(lines)
