"""How the next version is trained, from scratch or by continuing the champion: a pure function of the spec's
``retrain:`` policy and what the registry knows of the versions before it.

Order of the checks, and why:
1. No champion -> full: there is nothing to continue.
2. The spec asks for full trainings, or the request (a retrain event's extra, a manual run's conf) says
   ``strategy: full`` -> full.
3. The newest version was warm-started and the gate refused it -> full: continuing the same champion again would
   most likely be refused again, and a full search may find what the warm start could not.
4. ``full_every - 1`` warm starts in a row already led to the champion -> full: each continuation adds a few
   iterations fitted on recent months only, and the small corrections pile up.
5. Otherwise -> warm start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flywheel.specs.retrain import RetrainSpec

Strategy = Literal["full", "warm_start"]


@dataclass(frozen=True)
class Lineage:
    """What the registry knows of the versions before this training."""

    champion: str | None  # the @champion version
    champion_warm_starts: int = 0  # warm starts in a row that led to the champion (0: it was trained in full)
    refused_warm_start: str | None = None  # the newest version, when it was warm-started and the gate refused it


@dataclass(frozen=True)
class StrategyDecision:
    strategy: Strategy
    warm_starts: int  # warm starts in a row, this training included (0 for a full one)
    reason: str


def training_strategy(policy: RetrainSpec, lineage: Lineage, requested: str | None = None) -> StrategyDecision:
    if requested not in (None, "full"):
        raise ValueError(f"a training request may ask for strategy 'full' only, not {requested!r}")
    if lineage.champion is None:
        return StrategyDecision("full", 0, "full: no champion to continue yet")
    if requested == "full":
        return StrategyDecision("full", 0, "full: the request asked for it (strategy: full)")
    if policy.strategy == "full":
        return StrategyDecision("full", 0, "full: the spec's retrain.strategy")
    if lineage.refused_warm_start is not None:
        return StrategyDecision(
            "full", 0, f"full: the last warm start (v{lineage.refused_warm_start}) was refused by the gate"
        )
    if lineage.champion_warm_starts + 1 >= policy.full_every:
        return StrategyDecision(
            "full",
            0,
            f"full: v{lineage.champion} is warm start {lineage.champion_warm_starts} in a row, the most "
            f"retrain.full_every: {policy.full_every} allows",
        )
    warm = lineage.champion_warm_starts + 1
    return StrategyDecision(
        "warm_start", warm, f"warm start: {policy.extra_iterations} more iterations on v{lineage.champion}"
    )
