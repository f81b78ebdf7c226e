"""The whole replay of both models (`flywheel-replay demo` on a fresh home: hotel_cancellation 2016-07 .. 2017-08,
bike_demand 2012-01 .. 2012-12) and what only the whole replay can show: the looped model against a first model
that is never retrained, month by month, on the same rows.

Prints the demo's month tables (its own output) and a summary; writes docs/full-loop-benchmark.md. Exits 1 when a
looped model does not beat its never-retrained first model (the assertion `make test` ran before its replay was
shortened to six months; tests/README.md lists it).

    usage: .venv/bin/python benchmarks/full_loop.py [--keep HOME]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _demo(home: Path) -> float:
    """`flywheel-replay demo` as a user runs it on ``home``; returns its wall time in seconds."""
    prefixes = ("AIRFLOW", "MLFLOW", "FLYWHEEL_", "DBT_", "GX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)} | {"FLYWHEEL_HOME": str(home)}
    started = time.monotonic()
    # The demo's own output (progress, month rows, tables) streams through as it runs: about 13 minutes.
    with subprocess.Popen(
        [str(BIN / "flywheel-replay"), "demo"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as demo:
        assert demo.stdout is not None
        for line in demo.stdout:
            print(line, end="", flush=True)
    seconds = time.monotonic() - started
    if demo.returncode != 0:
        raise SystemExit(f"flywheel-replay demo failed ({demo.returncode}); its output is above")
    return seconds


def _ledger_counts(home: Path, model: str) -> dict[str, int]:
    """Ledger events by kind, and the distinct alerts delivered, over the whole replay."""
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring.alerts import DELIVERIES
    from flywheel.registry import ledger
    from flywheel.settings import Settings

    warehouse = open_warehouse(Settings(home=home, project_dir=PROJECT))
    events = Counter(entry["event"] for entry in ledger.history(warehouse, model, limit=100_000))
    alerts = warehouse.fetch_all(
        f"select count(distinct fingerprint) from {DELIVERIES} where model = ? and status = 'delivered'", (model,)
    )
    return {**events, "alerts": int(alerts[0][0])}


def main() -> int:
    from decisions import decisions

    from flywheel.core.tasks import METRICS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="run in this (new) home and keep it")
    args = parser.parse_args()
    home = args.keep or Path(tempfile.mkdtemp(prefix="flywheel-full-loop-"))
    seconds = _demo(home)

    lines = [
        "# The full replay: looped model vs never retrained",
        "",
        "`make bench` (benchmarks/full_loop.py): `flywheel-replay demo` on a fresh home, both models, the whole "
        "replay. "
        "Live metric = the mean of the monthly live primary metric of whatever version served (champion and "
        "canary shares); first model = v1 scoring the same rows, never retrained.",
        "",
        "| model | months | metric | looped (mean live) | first model, never retrained | looped better | retrains "
        "requested | promotions (v1 included) | alerts (distinct) |",
        "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    failures = []
    for csv in sorted((home / "reports").glob("*/demo/live_quality.csv")):
        model = csv.parts[-3]
        figures = pd.read_csv(csv, index_col="month")
        metric = str(figures["metric"].iloc[0])
        live, first = float(figures["live"].mean()), float(figures["first_model"].mean())
        better = METRICS[metric].advantage(live, first) > 0  # whichever way the metric points
        counts = _ledger_counts(home, model)
        lines.append(
            f"| {model} | {figures.index[0]} .. {figures.index[-1]} ({len(figures)}) | {metric} | {live:.4f} | "
            f"{first:.4f} | {'yes' if better else 'NO'} | {counts.get('retrain_requested', 0)} | "
            f"{counts.get('promoted', 0)} | {counts['alerts']} |"
        )
        if not better:
            failures.append(f"{model}: looped {metric} {live:.4f} is not better than never retrained {first:.4f}")
    lines += [
        "",
        f"Wall time of the demo: {seconds:.0f} s (install excluded).",
        "",
        "Not compared here: the alternative a user would set up first, a plain monthly cron retrain of the same "
        "spec, scored on the same rows (issue 15 adds it to this benchmark).",
        "",
        "Every decision of this replay, month by month: [full-loop-decisions.txt](full-loop-decisions.txt) "
        "(`benchmarks/decisions.py`); a change that must not change decisions diffs its own replay against it.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    (PROJECT / "docs" / "full-loop-benchmark.md").write_text(table)
    (PROJECT / "docs" / "full-loop-decisions.txt").write_text(decisions(home) + "\n")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
