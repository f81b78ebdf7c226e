"""Drift check cost: Flywheel's verdict (calibrated thresholds) against a plain Evidently DataDriftPreset report on
the same data: wall time and peak memory, 100k and 1M rows, for 10 numeric + 2 categorical synthetic columns and
for the hotel features (resampled from the bundled data).

Each measurement runs in its own process (peak RSS is per process); rounds alternate the two tools so machine
noise hits both alike. Prints a table and writes docs/drift-benchmark.md.

    .venv/bin/python benchmarks/drift.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _synthetic(rows: int, seed: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"n{i}": rng.gamma(2, 10, rows) if i % 2 else rng.normal(0, 1, rows) for i in range(10)})
    frame["c0"] = rng.choice(list("abcdef"), rows)
    frame["c1"] = rng.choice([f"k{i}" for i in range(150)], rows)
    return frame, [f"n{i}" for i in range(10)], ["c0", "c1"]


def _hotel(rows: int, seed: int):
    import pandas as pd

    from flywheel.specs import load_spec

    spec = load_spec(ROOT / "models" / "hotel_cancellation.yaml")
    raw = pd.read_csv(ROOT / "data" / "hotel_bookings" / "hotel_bookings.csv.gz")
    raw["country_code"], raw["has_company"] = raw["country"], raw["company"].notna().astype(float)
    raw["arrival_month"] = pd.to_datetime(raw["arrival_date_month"], format="%B").dt.month
    raw = raw.rename(columns={"arrival_date_week_number": "arrival_week_number"})
    numeric, categorical = list(spec.features.numeric), list(spec.features.categorical)
    raw[categorical] = raw[categorical].astype(str)
    return (
        raw.sample(rows, replace=True, random_state=seed)[numeric + categorical].reset_index(drop=True),
        numeric,
        categorical,
    )


def measure(tool: str, data: str, rows: int) -> dict[str, float]:
    """Runs in a child process: build reference (first half of a 2x sample) and current, then time one check."""
    import resource

    make = _synthetic if data == "synthetic" else _hotel
    reference, numeric, categorical = make(rows, 0)
    current, _, _ = make(rows, 1)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if tool == "flywheel":
        from flywheel.monitoring.drift import DriftSettings, check_drift

        verdict = check_drift(reference, current, numeric, categorical, DriftSettings())
        drifted = len(verdict.drifted)
    else:
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        drifted = int(snapshot.dict()["metrics"][0]["value"]["count"])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_mib": peak / 1024, "added_mib": (peak - baseline) / 1024, "drifted": drifted}


def _child(tool: str, data: str, rows: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", tool, data, str(rows)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, data, rows = args.child
        print(json.dumps(measure(tool, data, int(rows))))
        return
    lines = [
        "| data | rows | tool | median s | peak RSS MiB | added MiB | drifted cols | time ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for data in ("synthetic", "hotel"):
        for rows in args.rows:
            results: dict[str, list[dict[str, float]]] = {"flywheel": [], "evidently": []}
            for round_ in range(args.rounds):
                order = ("flywheel", "evidently") if round_ % 2 == 0 else ("evidently", "flywheel")
                for tool in order:
                    results[tool].append(_child(tool, data, rows))
                    print(data, rows, tool, results[tool][-1], flush=True)
            medians = {t: statistics.median(r["seconds"] for r in rs) for t, rs in results.items()}
            for tool, rs in results.items():
                lines.append(
                    f"| {data} | {rows:,} | {tool} | {medians[tool]:.2f} | {max(r['peak_mib'] for r in rs):.0f} | "
                    f"{max(r['added_mib'] for r in rs):.0f} | {rs[0]['drifted']:.0f} | "
                    f"{medians[tool] / medians['evidently']:.2f} |"
                )
    table = "\n".join(lines)
    print(table)
    out = ROOT / "docs" / "drift-benchmark.md"
    out.write_text(
        "# Drift check benchmark\n\n`benchmarks/drift.py`: Flywheel's verdict (normalised Wasserstein / Jensen-Shannon "
        "with per-column thresholds calibrated on 100 resamples of the reference) against a plain Evidently "
        "`DataDriftPreset` report (its default methods) on the same reference and current data. Each cell is one "
        f"process; {args.rounds} rounds, tools alternating; time = median, memory = the largest peak.\n\n"
        f"{table}\n\n`added MiB` is the peak RSS growth during the check itself (the data is built before).\n"
    )
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
