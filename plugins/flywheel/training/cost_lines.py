"""The model card's cost section: what the training and scoring cost in CPU and money, and when the value the
model adds over its baseline has paid for its training."""

from __future__ import annotations

from flywheel.specs import ModelSpec
from flywheel.training.cost import TrainingCost
from flywheel.training.fit import TrainingResult


def cost_lines(spec: ModelSpec, result: TrainingResult, cost: TrainingCost | None) -> list[str]:
    """Figures only where they were measured; money only with a business section (its currency and CPU price)."""
    if cost is None and result.scoring_cpu_per_1000 is None:
        return []
    business = spec.business
    price = business.cost_per_cpu_hour if business is not None else None
    currency = business.currency if business is not None else ""

    def money(cpu_seconds: float) -> str:
        return "" if price is None else f": {cpu_seconds / 3600 * price:.6f} {currency}"

    lines = ["## Cost and return"]
    if price is not None:
        lines.append(f"Priced at {price:g} {currency} per CPU-hour (`business.cost_per_cpu_hour`, an assumption).")
        lines.append("")
    if cost is not None:
        lines.append(
            f"- Training: {cost.cpu_seconds:,.1f} CPU s ({cost.wall_seconds:,.1f} s wall, peak memory "
            f"{cost.peak_memory_mb:,.0f} MB){money(cost.cpu_seconds)}."
        )
    if result.scoring_cpu_per_1000 is not None:
        lines.append(
            f"- Scoring: {result.scoring_cpu_per_1000:.4f} CPU s per 1,000 rows (the holdout scored at once)"
            f"{money(result.scoring_cpu_per_1000)}."
        )
    gained = (
        result.business.value_per_1000 - result.baseline_business.value_per_1000
        if result.business is not None and result.baseline_business is not None
        else None
    )
    if gained is not None and price is not None and cost is not None and result.scoring_cpu_per_1000 is not None:
        scoring = result.scoring_cpu_per_1000 / 3600 * price
        training = cost.cpu_seconds / 3600 * price
        net = gained - scoring
        lines.append(
            f"- Against the baseline: {gained:+,.0f} {currency} of value per 1,000 rows for {scoring:.6f} {currency} "
            f"of scoring (return on the scoring cost: {net / scoring:,.0f}x)"
            + (f"; the training is paid back after {1000 * training / net:,.1f} rows." if net > 0 else ".")
        )
    return [*lines, ""]
