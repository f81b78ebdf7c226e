"""Full retraining against warm starts under the same monitoring policy, side by side in one run: the whole replay
(`flywheel-replay demo`) of each model twice on fresh homes, once with the specs as they are (`retrain.strategy:
full`) and once with `retrain.strategy: warm_start` (everything else equal), then for each model the mean live
primary metric over the loop's months, the retrains, and the training CPU seconds of the retrains (MLflow metric
`training_cpu_seconds` of every version after the first).

Prints a markdown table and writes it to docs/retrain-strategies.md. Issue 20's targets: warm starts within 0.005
ROC AUC (hotel) and 2 % of MAE (bike) of full retraining, at no more than 25 % of its training CPU seconds.

    usage: .venv/bin/python benchmarks/retrain_strategies.py [--models hotel_cancellation bike_demand] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STRATEGIES = ("full", "warm_start")


def _start(home: Path, models: list[str], strategy: str, continue_on: dict[str, str]) -> subprocess.Popen[bytes]:
    """The demo of ``models`` on a fresh ``home`` with their specs copied there and set to ``strategy`` (and, for
    a warm start, ``retrain.continue_on`` where ``continue_on`` names one)."""
    specs = home / "specs"
    specs.mkdir(parents=True)
    for model in models:
        spec = yaml.safe_load((PROJECT / "models" / f"{model}.yaml").read_text())
        spec["retrain"] = {**spec.get("retrain", {}), "strategy": strategy}
        if strategy == "warm_start" and model in continue_on:
            spec["retrain"]["continue_on"] = continue_on[model]
        (specs / f"{model}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    prefixes = ("AIRFLOW", "MLFLOW", "FLYWHEEL_", "DBT_", "GX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env |= {"FLYWHEEL_HOME": str(home), "FLYWHEEL_SPECS_DIR": str(specs)}
    command = [str(BIN / "flywheel-replay"), "demo", *[arg for m in models for arg in ("--model", m)]]
    log = open(home / "demo.log", "wb")  # noqa: SIM115  closed with the process below
    return subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _replays(root: Path, models: list[str], continue_on: dict[str, str]) -> dict[str, float]:
    """Both replays at once, so they share the machine's state (the figures compared are CPU seconds and live
    metrics; wall times of replays that share two cores say little)."""
    started = time.monotonic()
    running = {strategy: _start(root / strategy, models, strategy, continue_on) for strategy in STRATEGIES}
    seconds = {}
    for strategy, process in running.items():
        if process.wait() != 0:
            raise SystemExit(f"the {strategy} replay failed: {root / strategy / 'demo.log'}")
        seconds[strategy] = time.monotonic() - started
        if process.stdout:
            process.stdout.close()
    return seconds


def _retrain_cpu(home: Path, model: str) -> list[tuple[str, str, float]]:
    """(version, strategy, training CPU seconds) of every version after the first."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    rows = []
    for version in client.search_model_versions(f"name = '{model}'"):
        if int(version.version) == 1:
            continue
        run = client.get_run(version.run_id)
        rows.append(
            (
                str(version.version),
                run.data.tags.get("flywheel.retrain_strategy", "?"),
                run.data.metrics.get("training_cpu_seconds", float("nan")),
            )
        )
    return sorted(rows, key=lambda r: int(r[0]))


def main() -> None:
    from flywheel.core.tasks import METRICS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["hotel_cancellation", "bike_demand"])
    parser.add_argument("--keep", type=Path, help="run the replays in (new) folders under this one and keep them")
    parser.add_argument(
        "--continue-on", nargs="*", default=[], metavar="MODEL=WHAT", help="a warm start's retrain.continue_on"
    )
    options = parser.parse_args()
    continue_on = dict(item.split("=", 1) for item in options.continue_on)
    root = options.keep or Path(tempfile.mkdtemp(prefix="flywheel-retrain-strategies-"))
    seconds = _replays(root, options.models, continue_on)
    print(f"replays done: {seconds} ({root})", flush=True)
    lines = [
        "# Retraining in full or by warm starts, under the same policy",
        "",
        "`benchmarks/retrain_strategies.py`: the whole replay of each model twice at once, on fresh homes, the "
        "specs as they are but for `retrain.strategy` (`full`, then `warm_start` with its defaults: "
        "`extra_iterations` 50, `full_every` 4, `continue_on` "
        + (", ".join(f"{m}: {w}" for m, w in continue_on.items()) or "new_months")
        + "). Live metric: the mean over the loop's months of the primary metric "
        "on each month's labelled rows, as served (`reports/<model>/demo/summary.json`). CPU: `training_cpu_seconds` "
        "of the retrains (every version after the first), which includes the first full training of a warm-start "
        "chain's first version only when the policy made one (full_every, a refused warm start).",
        "",
        "| model | metric | full: live mean (retrains) | warm start: live mean (retrains) | warm - full | "
        "retrain CPU s, full: total (median) | warm start: total (median), full ones among them | CPU ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model in options.models:
        facts = {
            s: json.loads((root / s / "reports" / model / "demo" / "summary.json").read_text()) for s in STRATEGIES
        }
        metric = METRICS[facts["full"]["metric"]]
        cpu = {s: _retrain_cpu(root / s, model) for s in STRATEGIES}
        total = {s: sum(c for _, _, c in cpu[s]) for s in STRATEGIES}
        median = {s: statistics.median([c for _, _, c in cpu[s]]) if cpu[s] else float("nan") for s in STRATEGIES}
        fulls = sum(1 for _, strategy, _ in cpu["warm_start"] if strategy == "full")
        full_mean, warm_mean = facts["full"]["looped"]["mean"], facts["warm_start"]["looped"]["mean"]
        lines.append(
            f"| {model} | {metric.name} | {full_mean:.4f} ({facts['full']['looped']['retrains']}) | {warm_mean:.4f} "
            f"({facts['warm_start']['looped']['retrains']}) | {metric.advantage(warm_mean, full_mean):+.4f} | "
            f"{total['full']:.0f} ({median['full']:.1f}) | {total['warm_start']:.0f} ({median['warm_start']:.1f}), "
            f"{fulls} | {total['warm_start'] / total['full']:.2f} |"
            if total["full"]
            else f"| {model} | {metric.name} | {full_mean:.4f} | {warm_mean:.4f} | | no retrain | | |"
        )
        for strategy in STRATEGIES:
            print(model, strategy, cpu[strategy], flush=True)
    lines += [
        "",
        f"The two replays ran at once (until done: full {seconds['full']:.0f} s, warm start "
        f"{seconds['warm_start']:.0f} s). 'warm - full' is the warm starts' advantage in the metric's direction "
        "(negative: full retraining is better).",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    (PROJECT / "docs" / "retrain-strategies.md").write_text(table)


if __name__ == "__main__":
    main()
