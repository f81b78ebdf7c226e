"""One training of a model with 1 and with 2 cores (``training_cores``), side by side in one run on one home.

Usage (after `make demo`): ``.venv/bin/python benchmarks/training.py [--model hotel_cancellation] [--rounds 1]``

``fit_model`` on the model's current snapshot (the search, whose folds also tune the threshold, the permutation
importance, the final fit; no MLflow), alternating the core counts; prints the medians and checks that the result
does not depend on the cores (the same holdout metrics).
"""

from __future__ import annotations

import argparse
import statistics
import time

from flywheel.settings import apply_environment
from flywheel.training.dataset import load_snapshot, time_split
from flywheel.training.fit import fit_model
from flywheel.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="hotel_cancellation")
    parser.add_argument("--rounds", type=int, default=1)
    options = parser.parse_args()
    workspace = Workspace(apply_environment())
    spec = workspace.spec(options.model)
    split = time_split(load_snapshot(spec, workspace.warehouse), spec)
    times: dict[int, list[float]] = {1: [], 2: []}
    metrics: dict[int, dict[str, float]] = {}
    for _ in range(options.rounds):
        for cores in times:
            started = time.perf_counter()
            metrics[cores] = fit_model(spec, split, cores).holdout_metrics
            times[cores].append(time.perf_counter() - started)
            print(f"{cores} core(s): {times[cores][-1]:.1f} s", flush=True)
    for cores, values in times.items():
        print(f"{options.model}, {cores} core(s): median {statistics.median(values):.1f} s over {options.rounds}")
    same = metrics[1] == metrics[2]
    print(f"holdout metrics identical with 1 and 2 cores: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
