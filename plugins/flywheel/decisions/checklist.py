"""The pre-production checklist of a version, checked from evidence: each item passed, failed or not applicable,
with what showed it. The items are the ones the guides this project follows ask before a model goes live: the
KPI and its baseline stated, the data versioned with its lineage, results stable by segment and over time, a
rollback plan and limits in force, monitoring of quality, drift, latency and cost, risks and biases documented.

A required item that fails blocks the promotion: the gate records it as a failed check named
``checklist:<item>``, so the version is not blessed and the ledger's verdict names the item. Pure: the train job
gathers the evidence (``ChecklistEvidence``) from the run, the verdict and the policy files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["passed", "failed", "not applicable"]
LINEAGE = ("data_snapshot_sha256", "data_first_event", "data_last_event", "spec_sha256", "git_revision")


@dataclass(frozen=True)
class ChecklistEvidence:
    metric: str  # the primary metric as people read it
    lift_over_baseline: float | None  # the gate's lift in the metric's own direction
    min_lift: float
    value_per_1000: float | None  # the decision's value (a value matrix), model and baseline
    baseline_value_per_1000: float | None
    lineage: dict[str, str]  # the run's lineage tags, without the ``flywheel.`` prefix
    segment_checks: tuple[tuple[str, bool], ...]  # the gate's per-segment checks (against the champion)
    segments_measured: int  # segment values with enough holdout rows in the card
    cv_metric: float | None  # the search's cross-validated figure (earlier months)
    holdout_metric: float  # the latest months
    higher_is_better: bool
    max_drop: float  # gates.max_drop_vs_champion: the tolerance for "worse"
    champion: str | None  # who keeps serving on a rollback
    canary_stages: str
    deadline_hours: float
    monitoring_policy: bool  # monitoring/<model>.yaml exists and validates
    cost_recorded: bool  # training CPU/wall seconds on the run
    disparity_gap: float | None  # binary classifiers: the largest FPR/FNR gap between segments
    max_disparity: float | None
    intended_use: bool  # the card states what the model is for and not for


@dataclass(frozen=True)
class Item:
    name: str
    status: Status
    evidence: str
    required: bool = True

    @property
    def blocks(self) -> bool:
        return self.required and self.status == "failed"


def _kpi(e: ChecklistEvidence) -> Item:
    lift = "no lift figure" if e.lift_over_baseline is None else f"lift {e.lift_over_baseline:+.4f}"
    value = (
        f"; value per 1,000 rows {e.value_per_1000:,.0f} vs baseline {e.baseline_value_per_1000:,.0f}"
        if e.value_per_1000 is not None and e.baseline_value_per_1000 is not None
        else ""
    )
    ok = e.lift_over_baseline is not None and e.lift_over_baseline >= e.min_lift
    shown = f"{e.metric} {lift} (needs {e.min_lift}){value}"
    return Item("KPI and baseline stated", "passed" if ok else "failed", shown)


def _lineage(e: ChecklistEvidence) -> Item:
    missing = [k for k in LINEAGE if not e.lineage.get(k)]
    if missing:
        return Item("data versioned with lineage", "failed", f"missing on the run: {', '.join(missing)}")
    tag = e.lineage
    shown = f"snapshot {tag['data_snapshot_sha256'][:12]} ({tag['data_first_event'][:10]} .. "
    shown += f"{tag['data_last_event'][:10]}), spec {tag['spec_sha256'][:12]}, code {tag['git_revision'][:12]}"
    return Item("data versioned with lineage", "passed", shown)


def _by_segment(e: ChecklistEvidence) -> Item:
    failed = [name.removeprefix("segment:") for name, ok in e.segment_checks if not ok]
    if failed:
        return Item("results stable by segment", "failed", f"worse than the champion in {', '.join(failed)}")
    if e.segment_checks:
        return Item("results stable by segment", "passed", f"{len(e.segment_checks)} segments within the gate's limit")
    return Item(
        "results stable by segment",
        "passed" if e.segments_measured else "not applicable",
        f"first version: {e.segments_measured} segment values measured in the card, no champion to compare",
    )


def _over_time(e: ChecklistEvidence) -> Item:
    if e.cv_metric is None:
        return Item("results stable over time", "not applicable", "no cross-validated figure (a warm start)", False)
    drop = (e.cv_metric - e.holdout_metric) if e.higher_is_better else (e.holdout_metric - e.cv_metric)
    status: Status = "passed" if drop <= e.max_drop else "failed"
    shown = f"{e.metric} {e.cv_metric:.4f} on the earlier months' folds, {e.holdout_metric:.4f} on the latest"
    return Item("results stable over time", status, f"{shown} (a drop over {e.max_drop} is flagged)", False)


def _rollback(e: ChecklistEvidence) -> Item:
    back = f"@champion v{e.champion} keeps serving" if e.champion else "first version: a rollback serves nothing"
    return Item(
        "rollback plan and limits active",
        "passed",
        f"canary {e.canary_stages}, rolled back on a failed check or {e.deadline_hours:g} h without evidence; {back}",
    )


def _monitoring(e: ChecklistEvidence) -> Item:
    missing = [
        what
        for what, ok in (
            ("a monitoring policy (monitoring/<model>.yaml)", e.monitoring_policy),
            ("training cost on the run", e.cost_recorded),
        )
        if not ok
    ]
    if missing:
        return Item("monitoring of quality, drift, latency and cost", "failed", f"missing: {', '.join(missing)}")
    return Item(
        "monitoring of quality, drift, latency and cost",
        "passed",
        "drift and quality per window (the monitor's policy), latency and CPU per prediction (the service's "
        "/metrics), training and monitoring cost recorded",
    )


def _risks(e: ChecklistEvidence) -> Item:
    name = "risks and biases documented"
    if not e.intended_use:
        return Item(name, "failed", "the model card states no intended use and limits")
    if e.disparity_gap is None:
        return Item(name, "passed", "intended use and limits in the card; no decision disparity to measure here")
    within = e.max_disparity is None or e.disparity_gap <= e.max_disparity
    limit = "not gated" if e.max_disparity is None else f"limit {e.max_disparity}"
    return Item(
        name,
        "passed" if within else "failed",
        f"intended use and limits in the card; largest error-rate gap between segments {e.disparity_gap:.3f} ({limit})",
    )


def checklist(evidence: ChecklistEvidence) -> list[Item]:
    return [check(evidence) for check in (_kpi, _lineage, _by_segment, _over_time, _rollback, _monitoring, _risks)]


def as_markdown(items: list[Item]) -> list[str]:
    lines = [
        "## Pre-production checklist (checked by the gate, from evidence)",
        "",
        "| item | status | evidence |",
        "| --- | --- | --- |",
    ]
    for item in items:
        status = item.status + ("" if item.required else " (advisory)")
        lines.append(f"| {item.name} | {status} | {item.evidence} |")
    return [*lines, ""]
