"""Is quality at risk: drift weighted by the model's importance, the estimate, and labels that settle it."""

from __future__ import annotations

from flywheel.core.packet import Quality
from flywheel.decisions.impact import drift_impact, quality_at_risk
from flywheel.monitoring.drift import ColumnDrift, DriftVerdict


def _verdict(drifted: list[str], steady: list[str]) -> DriftVerdict:
    def column(name: str, moved: bool) -> ColumnDrift:
        return ColumnDrift(name, "numeric", "wasserstein", 0.3 if moved else 0.01, 0.1, moved, "higher", 0, 0)

    columns = [column(c, True) for c in drifted] + [column(c, False) for c in steady]
    return DriftVerdict("critical", "", 1000, 1000, columns)


def test_drift_weighs_what_the_model_uses():
    importance = {"lead_time": 0.06, "adr": 0.01, "country": 0.03, "arrival_month": 0.0, "noise": -0.002}
    used = drift_impact(_verdict(["lead_time", "country"], ["adr", "noise"]), importance, 0.5)
    assert used is not None and used.importance_share == 0.9 and used.at_risk and used.weighted
    assert used.top == ["lead_time 60%", "country 30%"]
    unused = drift_impact(_verdict(["adr", "noise"], ["lead_time", "country"]), importance, 0.5)
    assert unused is not None and unused.importance_share == 0.1 and not unused.at_risk
    assert quality_at_risk(None, None, unused) is None and quality_at_risk(None, None, used) is not None


def test_without_recorded_importance_every_judged_feature_weighs_alike():
    even = drift_impact(_verdict(["a", "b"], ["c", "d"]), None, 0.5)
    assert even is not None and even.importance_share == 0.5 and even.at_risk and not even.weighted
    assert drift_impact(DriftVerdict("insufficient_data", "", 10, 10), None, 0.5) is None


def test_labels_settle_it():
    fine = Quality(metric="roc_auc", live=0.89, champion_holdout=0.9, change=-0.01, limit=-0.03, labelled_rows=900)
    worse = fine.model_copy(update={"live": 0.85, "change": -0.05})
    at_risk = drift_impact(_verdict(["a", "b", "c"], ["d"]), None, 0.5)
    assert quality_at_risk(fine, None, at_risk) is None
    assert quality_at_risk(worse, None, None) is not None and "live roc_auc 0.8500" in quality_at_risk(
        worse, None, None
    )


def test_where_the_metric_is_estimated_the_estimate_decides_before_labels():
    from flywheel.core.packet import EstimatedQuality

    heavy = drift_impact(_verdict(["a", "b", "c"], ["d"]), None, 0.5)
    fine = EstimatedQuality(
        metric="roc_auc",
        method="CBPE",
        estimate=0.89,
        champion_holdout=0.9,
        change=-0.01,
        limit=-0.03,
        threshold=0.87,
        rows=900,
    )
    assert quality_at_risk(None, fine, heavy) is None  # the drift is heavy, but its expected effect is small
    low = fine.model_copy(update={"estimate": 0.85, "change": -0.05})
    assert str(quality_at_risk(None, low, None)).startswith("estimated roc_auc 0.8500 before labels")
    assert quality_at_risk(None, None, heavy) is not None  # nothing estimated (a regressor): the drift decides
