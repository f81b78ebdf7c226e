"""Successive halving's plan: how many candidates are fitted with how many iterations at each rung.

Every candidate is judged on the folds at a fraction of the estimator's iterations; the best ``1/factor`` of them
go on to ``factor`` times as many, up to the spec's own count, where the choice is made. The rungs are those of
scikit-learn's ``HalvingRandomSearchCV`` with ``min_resources="exhaust"`` (a unit test holds the choice equal),
except that the last rung is always the spec's iteration count.

A candidate that goes on is continued (``warm_start`` on the same fold data), not fitted again: for the estimators
named here that gives exactly the model a fit with that many iterations from the start gives (a unit test holds
them equal), so the survivors' fold scores are those an exhaustive search would have measured. Not here:
``GradientBoosting*`` (a continued fit draws its row subsamples from a restarted random state).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Any

from flywheel.specs import EstimatorSpec
from flywheel.training.estimators import estimator_class

ITERATION_PARAMS = {
    "HistGradientBoostingClassifier": "max_iter",
    "HistGradientBoostingRegressor": "max_iter",
    "RandomForestClassifier": "n_estimators",
    "RandomForestRegressor": "n_estimators",
    "ExtraTreesClassifier": "n_estimators",
    "ExtraTreesRegressor": "n_estimators",
}


@dataclass(frozen=True)
class Rung:
    candidates: int  # fitted at this rung (the best of the rung before)
    iterations: int  # each with this many iterations


@dataclass(frozen=True)
class SearchPlan:
    rungs: tuple[Rung, ...]  # one rung: every candidate with every iteration (exhaustive)
    iteration_param: str | None  # the estimator's parameter the rungs set (None: exhaustive)
    why: str  # for the log: why this plan


def _floor_log(n: int, base: int) -> int:
    k = 0
    while base ** (k + 1) <= n:
        k += 1
    return k


def rungs(n_candidates: int, max_iterations: int, factor: int) -> tuple[Rung, ...]:
    """As many rungs as it takes to narrow ``n_candidates`` down by ``factor`` (while the first rung still has at
    least one iteration); rung i fits ``ceil(n / factor**i)`` candidates with ``max_iterations // factor**(last -
    i)`` iterations."""
    count = 1 + min(_floor_log(n_candidates, factor), _floor_log(max_iterations, factor))
    plan, kept = [], n_candidates
    for i in range(count):
        plan.append(Rung(kept, max_iterations // factor ** (count - 1 - i)))
        kept = ceil(kept / factor)
    return tuple(plan)


def search_plan(estimator: EstimatorSpec, n_candidates: int) -> SearchPlan:
    """Halving where the spec asks for it and the estimator allows it; otherwise one exhaustive rung, and why."""
    cls = estimator_class(estimator.class_path)
    param = ITERATION_PARAMS.get(cls.__name__)
    defaults: dict[str, Any] = cls().get_params()
    exhaustive = SearchPlan((Rung(n_candidates, defaults.get(param or "", 0)),), None, "")
    if estimator.search_strategy == "exhaustive":
        return _why(exhaustive, "the spec asks for an exhaustive search")
    if param is None:
        return _why(exhaustive, f"{cls.__name__} does not grow by iterations that can be continued")
    if param in estimator.search_space:
        return _why(exhaustive, f"'{param}' is searched itself")
    params = {**defaults, **estimator.params}
    if params.get("early_stopping", False) is not False:
        return _why(exhaustive, "early stopping is on (params: early_stopping: false allows halving)")
    if params.get("warm_start", False):
        return _why(exhaustive, "warm_start is set in params")
    plan = rungs(n_candidates, int(params[param]), estimator.halving_factor)
    if len(plan) == 1:
        return _why(exhaustive, f"{n_candidates} candidate(s) are too few to halve by {estimator.halving_factor}")
    steps = ", then ".join(f"{r.candidates} with {param}={r.iterations}" for r in plan)
    return SearchPlan(plan, param, f"successive halving: {steps}")


def _why(plan: SearchPlan, reason: str) -> SearchPlan:
    return SearchPlan(plan.rungs, None, f"exhaustive: {reason}")
