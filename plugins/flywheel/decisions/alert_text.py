"""What on-call is told to do, in order, for each kind of alert (docs/runbooks/drift.md has the long form)."""

from __future__ import annotations

from flywheel.core.packet import DriftImpact, Quality


def what_to_do(
    severity: str,
    action: str,
    runbook: str,
    quality: Quality | None = None,
    at_risk: str | None = None,
    impact: DriftImpact | None = None,
) -> list[str]:
    """The steps, in order. ``at_risk``: why quality is at risk (``flywheel.decisions.impact``), or None."""
    if quality is not None and quality.dropped and action != "page":
        return [
            f"Live {quality.metric} is {quality.live:.4f} against the champion's holdout {quality.champion_holdout:.4f}"
            f" ({quality.change:+.4f}, limit {quality.limit:+.4f}) on {quality.labelled_rows:,} labelled rows: the "
            "model answers worse now.",
            "If the labels or the target's definition changed upstream (target drift, dbt models), fix that first: "
            "a retrain on broken labels makes it worse.",
            "Otherwise the retrain policy acts (see Retraining); watch the canary of the retrained version.",
            f"Runbook: {runbook}#quality-dropped-labels-arrived",
        ]
    if action == "page":
        return [
            "Retraining did not absorb this drift: do not retrain again until the cause is known.",
            "Check the upstream dbt models listed for the drifted columns (a changed source, a broken join?).",
            f"Follow '{runbook}#drift-persists-after-a-retrain'.",
        ]
    if severity == "critical" and at_risk is not None:
        return [
            f"Quality is at risk before the labels can tell: {at_risk}.",
            "Open the report: which inputs moved, and is it the world (prices, markets) or the data (a broken "
            "upstream model, a unit change)? A data problem: quarantine the batch and fix the upstream model first.",
            "A real change: let the retrain policy act and watch the canary; the labels will confirm or clear this.",
            f"Runbook: {runbook}#quality-at-risk-before-labels",
        ]
    steps = ["Open the report and compare the drifted columns' distributions (reference vs current)."]
    if impact is not None and impact.importance_share > 0:
        weights = "of the model's importance" if impact.weighted else "of the judged features"
        steps.append(
            f"The drifted features carry {impact.importance_share:.0%} {weights} (at risk from {impact.limit:.0%})"
            + (" and the live quality is within its limit" if quality is not None else "")
            + ": no action needed; it is recorded for trends and may retrain by policy."
        )
    else:
        steps.append("No action needed: quality is not at risk; it is recorded for trends.")
    steps.append(f"Runbook: {runbook}#drift-without-impact")
    return steps


def unmonitored_steps(windows: int, model: str, rows: int, min_rows: int, runbook: str) -> list[str]:
    """A model whose last ``windows`` windows were all below ``drift.min_rows`` (``rows`` in this one)."""
    return [
        f"No drift verdict for {f'{windows} windows in a row' if windows > 1 else 'this window'}: this one has "
        f"{rows:,} rows, below drift.min_rows "
        f"({min_rows}). Nobody is watching this model's inputs.",
        f"Lower drift.min_rows in monitoring/{model}.yaml (small windows get wider noise thresholds), or judge "
        "longer windows (the monitor's schedule and window), or check why the traffic fell.",
        f"Runbook: {runbook}#unmonitored",
    ]
