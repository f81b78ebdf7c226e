"""Is the model's quality at risk? The evidence, strongest first: the metric measured on labels; before labels, the
metric estimated from the scores (classifiers, CBPE) and drift weighted by how much of the model's skill the
drifted features carry (permutation importance recorded at training). Input drift that puts nothing at risk is
reported, never paged: on seasonal business data the inputs move every year, and a page that always fires is
ignored. Pure functions of typed inputs; ``flywheel.decisions.monitor`` turns their answer into a severity.
"""

from __future__ import annotations

from collections.abc import Mapping

from flywheel.core.packet import DriftImpact, EstimatedQuality, Quality
from flywheel.core.tasks import Metric
from flywheel.monitoring.drift import DriftVerdict
from flywheel.specs import QualityPolicySpec

CBPE = "CBPE (isotonic calibration on the champion's holdout)"


def drift_impact(verdict: DriftVerdict, importance: Mapping[str, float] | None, limit: float) -> DriftImpact | None:
    """The drifted features' share of the model's positive permutation importance (over every input the model
    uses, judged or ignored); without recorded importance every judged feature weighs alike. None without a
    drift verdict."""
    if verdict.severity == "insufficient_data" or not verdict.columns:
        return None
    drifted = [c.column for c in verdict.drifted]
    positive = {c: max(v, 0.0) for c, v in (importance or {}).items()}
    total = sum(positive.values())
    weighted = total > 0
    if weighted:
        shares = {c: positive.get(c, 0.0) / total for c in drifted}
    else:
        shares = {c: 1 / len(verdict.columns) for c in drifted}
    top = sorted(shares.items(), key=lambda kv: -kv[1])[:3]
    return DriftImpact(
        importance_share=round(sum(shares.values()), 4),
        limit=limit,
        weighted=weighted,
        top=[f"{c} {s:.0%}" for c, s in top if s > 0],
    )


def estimated_quality(
    metric: Metric,
    estimate: float | None,
    champion_holdout: float | None,
    policy: QualityPolicySpec,
    rows: int,
    live: Quality | None,
) -> EstimatedQuality | None:
    """The estimate against the same limit as the measured metric; None where the metric is not estimated."""
    if estimate is None or champion_holdout is None:
        return None
    return EstimatedQuality(
        metric=metric.name,
        method=CBPE,
        estimate=round(estimate, 4),
        champion_holdout=round(champion_holdout, 4),
        change=round(metric.advantage(estimate, champion_holdout), 4),
        limit=-policy.max_drop,
        threshold=round(metric.bound(champion_holdout, policy.max_drop), 4),
        rows=rows,
        live=None if live is None else live.live,
    )


def label_free_risk(estimate: EstimatedQuality | None, impact: DriftImpact | None) -> str | None:
    """Why quality is at risk judging by what needs no label; None if not. Where the metric is estimated, the
    estimate decides: it already turns the drift into its expected effect on the metric, through the model's own
    scores. Drift weighted by importance decides only where nothing is estimated (regressors): on the hotel replay
    the drifted features carried 53-99 % of the importance in every one of 14 windows (the inputs move year over
    year), so as a rule beside the estimate it would have paged every month, where the estimate flagged 6."""
    if estimate is not None:
        if not estimate.dropped:
            return None
        return (
            f"estimated {estimate.metric} {estimate.estimate:.4f} before labels, {estimate.change:+.4f} against the "
            f"champion's holdout {estimate.champion_holdout:.4f} (limit {estimate.limit:+.4f}; {estimate.method})"
        )
    if impact is not None and impact.at_risk:
        weights = "of the model's permutation importance" if impact.weighted else "of the judged features"
        return (
            f"drifted features carry {impact.importance_share:.0%} {weights} (at risk from {impact.limit:.0%}): "
            + ", ".join(impact.top)
        )
    return None


def quality_at_risk(
    quality: Quality | None, estimate: EstimatedQuality | None, impact: DriftImpact | None
) -> str | None:
    """Why the model's quality is at risk in this window, or None. Labels, once enough of them arrived, settle it
    either way: a measured drop is a risk whatever the inputs did, a measured figure within its limit outweighs
    an estimate or a drift."""
    if quality is not None:
        if quality.dropped:
            return (
                f"live {quality.metric} {quality.live:.4f} on {quality.labelled_rows:,} labelled rows, "
                f"{quality.change:+.4f} against the champion's holdout {quality.champion_holdout:.4f} "
                f"(limit {quality.limit:+.4f})"
            )
        return None
    return label_free_risk(estimate, impact)
