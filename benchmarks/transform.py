"""The transform step against a plain `dbt build` of the same project, in one run on one home.

Usage (after `make demo`, or on any home with raw data): ``.venv/bin/python benchmarks/transform.py [--rounds 3]``

Alternating rounds, each a fresh process as a scheduler would start: `dbt build` (the analyst's command) and
`flywheel run transform` (the DAG under ``dag.test()``: one `dbt build` in-process, a task per dbt node, GX on new
partitions; DAG parsing and Airflow's start included). Medians over rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from flywheel.serving.process import BIN
from flywheel.settings import apply_environment


def _seconds(args: list[str], cwd: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    settings = apply_environment()
    env = {**os.environ, **settings.dbt_env()}
    project = str(settings.dbt_project_dir)
    dbt = [str(BIN / "dbt"), "build", "--target", settings.dbt_target, "--target-path", str(settings.dbt_target_path)]
    commands = {"plain `dbt build`": dbt, "`flywheel run transform`": [str(BIN / "flywheel"), "run", "transform"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(options.rounds):
        for name, args in commands.items():
            times[name].append(_seconds(args, project, env))
        print(f"round {round_ + 1}/{options.rounds}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()))
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.1f} s over {options.rounds} rounds")


if __name__ == "__main__":
    main()
