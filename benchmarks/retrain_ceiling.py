"""How good any retrain schedule could be on the replayed data: the ceiling a trigger policy is measured against.

On a home where `flywheel-replay demo` ran (``benchmarks/full_loop.py --keep HOME``), per model: the first
champion's pipeline (same hyper-parameters, no search, one thread, as the demo's cron and calendar arms) is refitted
at the start of every replayed month on every row labelled before it, and each refit scores every later half month.
From that table, without refitting again:

* the monthly cron and the even calendar of K retrains (the demo's yardsticks, recomputed here);
* the best possible K retrain months (every combination, chosen knowing the future: an oracle no trigger can beat)
  when a retrained model serves at once, half a month later, or a month later (the loop's promotion: a shadow
  stage and a live stage of about half a month each).

So a missed target can be told apart: a trigger that picks the wrong months (the oracle at the loop's delay does
better), or a budget or delay that no trigger can overcome (the oracle misses it too). Writes
docs/retrain-ceiling.md.

    usage: .venv/bin/python benchmarks/retrain_ceiling.py HOME [--model NAME]... [--budget K]...
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parents[1]
DELAYS = {"at once": 0, "half a month later": 1, "a month later": 2}  # in half months


def _halves(months: list[str]) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The replay's half months (the 1st to the 16th, the 16th to the next 1st), in order."""
    result = []
    for month in months:
        start = pd.Timestamp(f"{month}-01")
        middle, end = start + pd.Timedelta(days=15), start + pd.offsets.MonthBegin(1)
        result += [(start, middle), (middle, end)]
    return result


def score_table(model: str, settings, months: list[str]) -> tuple[dict, object, list]:
    """{(refit month index, half index): scores} for every refit at a replayed month's start (index 0 is the first
    champion itself, fitted before the loop), the labels per half, and the metric."""
    import mlflow
    from threadpoolctl import threadpool_limits

    from flywheel.core.tasks import primary_metric
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring.windows import score
    from flywheel.specs import load_spec
    from flywheel.training.dataset import load_snapshot
    from flywheel_replay.baselines import refit

    spec = load_spec(settings.models_dir / f"{model}.yaml")
    metric = primary_metric(spec)
    first = mlflow.sklearn.load_model(f"models:/{model}/1")
    snapshot = load_snapshot(spec, open_warehouse(settings)).frame
    events = pd.to_datetime(snapshot[spec.source.event_time_column])
    halves = _halves(months)
    rows = [snapshot[(events >= a) & (events < b)] for a, b in halves]
    labels = [np.asarray(r[spec.source.target_column], dtype=float) for r in rows]
    scores: dict[tuple[int, int], np.ndarray] = {}
    for m, month in enumerate(months):
        started = time.monotonic()
        cut = pd.Timestamp(f"{month}-01")
        fitted = first if m == 0 else refit(first, snapshot[events < cut], spec)
        with threadpool_limits(limits=1):
            for h in range(2 * m, len(halves)):
                scores[(m, h)] = np.asarray(score(fitted, rows[h], spec), dtype=float)
        print(
            f"{model}: refit before {month} ({len(snapshot[events < cut]):,} rows) {time.monotonic() - started:.1f} s",
            flush=True,
        )
    return scores, metric, labels


def _mean_metric(serving: list[int], scores, metric, labels, cache) -> float:
    """The mean over months of the metric when half h is answered by the refit ``serving[h]``."""
    values = []
    for m in range(len(serving) // 2):
        key = (m, serving[2 * m], serving[2 * m + 1])
        if key not in cache:
            y = np.concatenate([labels[2 * m], labels[2 * m + 1]])
            s = np.concatenate([scores[(serving[2 * m], 2 * m)], scores[(serving[2 * m + 1], 2 * m + 1)]])
            cache[key] = metric.value(y, s)
        values.append(cache[key])
    return float(np.mean(values))


def _serving(retrain_months: tuple[int, ...], delay: int, n_months: int) -> list[int]:
    """Which refit answers each half: the one made before month m serves from half 2m + delay on."""
    serving, current = [], 0
    for h in range(2 * n_months):
        for m in retrain_months:
            if h >= 2 * m + delay:
                current = max(current, m)
        serving.append(current)
    return serving


def ceiling(model: str, settings, months: list[str], budgets: list[int], looped: dict) -> list[str]:
    from flywheel_replay.baselines import schedule

    scores, metric, labels = score_table(model, settings, months)
    cache: dict = {}
    n = len(months)
    cron = _mean_metric(_serving(tuple(range(1, n)), 0, n), scores, metric, labels, cache)
    never = _mean_metric([0] * (2 * n), scores, metric, labels, cache)
    lines = [
        f"## {model}: {metric.name}, {months[0]} .. {months[-1]} ({n} months)",
        "",
        f"Never retrained {never:.4f}; monthly cron ({n - 1} refits after the first month's champion) {cron:.4f}; "
        f"the loop of this home {looped['mean']:.4f} ({looped['retrains']} retrains, its `summary.json`).",
        "",
        "| retrains | even calendar, at once | best months, at once | best, half a month later | "
        "best, a month later | best months (a month later) |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for k in budgets:
        calendar = tuple(months.index(m) for m in schedule(months, k))
        row = [f"{_mean_metric(_serving(calendar, 0, n), scores, metric, labels, cache):.4f}"]
        best_months = ""
        for delay in DELAYS.values():
            candidates = (
                (_mean_metric(_serving(c, delay, n), scores, metric, labels, cache), c)
                for c in itertools.combinations(range(1, n), k)
            )
            pick = (max if metric.higher_is_better else min)(candidates, key=lambda t: t[0])
            row.append(f"{pick[0]:.4f}")
            best_months = ", ".join(months[i] for i in pick[1])
        lines.append(f"| {k} | " + " | ".join(row) + f" | {best_months} |")
    return [*lines, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path, help="a home where flywheel-replay demo ran")
    parser.add_argument("--model", action="append", help="default: every model with a demo summary")
    parser.add_argument(
        "--budget", type=int, action="append", help="retrain counts (default: 2, 4, the loop's, half the cron's)"
    )
    args = parser.parse_args()
    os.environ["FLYWHEEL_HOME"] = str(args.home)
    from flywheel.settings import Settings, apply_environment

    settings = apply_environment(Settings(home=args.home, project_dir=PROJECT))
    os.environ["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    summaries = sorted((args.home / "reports").glob("*/demo/summary.json"))
    if not summaries:
        raise SystemExit(f"{args.home}: no reports/<model>/demo/summary.json; run benchmarks/full_loop.py --keep first")
    lines = [
        "# The retrain ceiling: what any schedule of K retrains could reach on the replayed data",
        "",
        "`benchmarks/retrain_ceiling.py HOME` on a home of `benchmarks/full_loop.py --keep HOME`. Every refit is the "
        "first champion's pipeline on every row labelled before a replayed month (the demo's cron and calendar "
        'arms); the mean over months of the primary metric, all on the same rows. "Best months" tries every '
        "combination of K retrain months, knowing the future (an oracle): no trigger can do better at that delay. "
        '"Half a month later" / "a month later": the retrained model serves from the middle of / from the '
        "month after the month it was trained before (the loop's shadow and live stages take that long). The loop's "
        "own retrains search hyper-parameters and refit on their holdout, so a loop can do better than these refits "
        "at the same delay; the table bounds what timing alone can give.",
        "",
    ]
    for path in summaries:
        facts = json.loads(path.read_text())
        model = facts["model"]
        if args.model and model not in args.model:
            continue
        months = facts["months"]
        budgets = args.budget or sorted({2, 4, facts["looped"]["retrains"], len(months) // 2} - {0})
        lines += ceiling(model, settings, months, budgets, facts["looped"])
    text = "\n".join(lines)
    print(text)
    (PROJECT / "docs" / "retrain-ceiling.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT / "replay"))
    raise SystemExit(main())
