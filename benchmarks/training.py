"""One training of a model per search strategy and core count, side by side in one run on one home.

Usage (after `make demo`): ``.venv/bin/python benchmarks/training.py [--model hotel_cancellation] [--rounds 1]
[--cores 1 2] [--strategies halving exhaustive]``

``fit_model`` on the model's current snapshot (the search, whose folds also tune the threshold, the permutation
importance, the final fit; no MLflow), alternating the variants; prints each variant's median seconds, chosen
parameters and holdout metrics, and checks that the result does not depend on the cores (the same holdout metrics
for one strategy).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from flywheel.settings import apply_environment
from flywheel.training.dataset import load_snapshot, time_split
from flywheel.training.fit import TrainingResult, fit_model
from flywheel.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="hotel_cancellation")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cores", type=int, nargs="+", default=[2])
    parser.add_argument("--strategies", nargs="+", default=["halving", "exhaustive"])
    options = parser.parse_args()
    workspace = Workspace(apply_environment())
    spec = workspace.spec(options.model)
    split = time_split(load_snapshot(spec, workspace.warehouse), spec)
    variants = list(itertools.product(options.strategies, options.cores))
    times: dict[tuple[str, int], list[float]] = {v: [] for v in variants}
    results: dict[tuple[str, int], TrainingResult] = {}
    for _ in range(options.rounds):
        for strategy, cores in variants:
            estimator = spec.estimator.model_copy(update={"search_strategy": strategy})
            started = time.perf_counter()
            results[strategy, cores] = fit_model(spec.model_copy(update={"estimator": estimator}), split, cores)
            times[strategy, cores].append(time.perf_counter() - started)
            print(f"{strategy}, {cores} core(s): {times[strategy, cores][-1]:.1f} s", flush=True)
    for (strategy, cores), values in times.items():
        result = results[strategy, cores]
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(result.holdout_metrics.items()))
        print(
            f"{options.model}, {strategy}, {cores} core(s): median {statistics.median(values):.1f} s over "
            f"{options.rounds}; cv {result.cv_score:.4f} with {result.best_params}; holdout {metrics}"
        )
    for strategy in options.strategies:
        same = len({str(results[strategy, c].holdout_metrics) for c in options.cores}) == 1
        print(f"{strategy}: holdout metrics identical with {options.cores} core(s): {same}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
