"""Throughput and p50 / p99 latency of `flywheel serve` against `mlflow models serve`, on the same model
(the current @champion), the same records and the same client, measured in alternating rounds in one run.

Usage (after `make demo`, so that a champion exists):
    .venv/bin/python benchmarks/serving.py [--rounds 3] [--requests 300] [--out docs/serving-benchmark.md]

Our service does more per request than MLflow's (schema validation, routing, prediction log, metrics); the table
shows what that costs.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import httpx

from flywheel.data.warehouse import open_warehouse
from flywheel.serving.process import BIN, flywheel_serve, free_port, server_process
from flywheel.settings import apply_environment
from flywheel.specs import load_spec
from flywheel_replay.traffic import month_records

MODEL = "hotel_cancellation"


def _measure(http: httpx.Client, path: str, bodies: list[dict]) -> tuple[list[float], float]:
    latencies = []
    started = time.perf_counter()
    for body in bodies:
        t = time.perf_counter()
        http.post(path, json=body).raise_for_status()
        latencies.append((time.perf_counter() - t) * 1000)
    return latencies, time.perf_counter() - started


def _name(threads: int, counts: list[int]) -> str:
    return "flywheel serve" if counts == [1] else f"flywheel serve, {threads} model thread(s)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("docs/serving-benchmark.md"))
    parser.add_argument(
        "--model-threads",
        type=int,
        nargs="+",
        default=[1],
        help="one flywheel serve per count (serve_model_threads), side by side: 1 2 shows what pinning saves",
    )
    options = parser.parse_args()

    settings = apply_environment()
    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    records = month_records(spec, open_warehouse(settings), "2016-06")
    features = spec.features.all
    logs = settings.home / "logs"
    mlflow_port = free_port()
    mlflow_serve = server_process(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{MODEL}@champion",
            "--env-manager",
            "local",
            "-p",
            str(mlflow_port),
            "-h",
            "127.0.0.1",
        ],
        mlflow_port,
        "/ping",
        logs / "bench-mlflow.log",
        timeout=300,
    )

    def bodies(kind: str, size: int) -> list[dict]:
        chunks = [records[(i * size) % (len(records) - size) :][:size] for i in range(options.requests)]
        if kind == "flywheel":
            return [{"records": chunk} for chunk in chunks]
        return [{"dataframe_records": [{f: r[f] for f in features} for r in chunk]} for chunk in chunks]

    results: dict[tuple[str, int], list[tuple[list[float], float]]] = {}
    with contextlib.ExitStack() as stack:
        ours = {
            threads: stack.enter_context(
                flywheel_serve(
                    MODEL,
                    logs / f"bench-flywheel-{threads}.log",
                    {"FLYWHEEL_SERVE_MODEL_THREADS": str(threads)},
                )
            )
            for threads in options.model_threads
        }
        mlflow_url = stack.enter_context(mlflow_serve)
        http = stack.enter_context(httpx.Client(timeout=60))
        servers = [(_name(t, options.model_threads), url, "/predict") for t, url in ours.items()]
        servers.append(("mlflow models serve", mlflow_url, "/invocations"))
        for round_ in range(options.rounds):
            for size in (1, 100):
                for kind, url, path in servers:
                    body = bodies("mlflow" if path == "/invocations" else "flywheel", size)
                    results.setdefault((kind, size), []).append(_measure(http, url + path, body))
            print(f"round {round_ + 1}/{options.rounds} done", flush=True)

    lines = [
        "| server | records per request | requests | p50 ms | p99 ms | requests/s | records/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (kind, size), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        p50 = statistics.median(statistics.median(lat) for lat, _ in runs)
        p99 = statistics.median(statistics.quantiles(lat, n=100)[98] for lat, _ in runs)
        rps = statistics.median(len(lat) / seconds for lat, seconds in runs)
        lines.append(
            f"| {kind} | {size} | "
            f"{options.requests} x {options.rounds} | {p50:.1f} | {p99:.1f} | {rps:.0f} | {rps * size:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    options.out.write_text(
        "# Serving benchmark\n\n"
        f"`benchmarks/serving.py --rounds {options.rounds} --requests {options.requests}`: one client, sequential "
        "requests on loopback, the two servers measured in alternating rounds in one run (medians over rounds). "
        "Same model (@champion), same records (2016-06 bookings).\n\n" + table + "\n"
    )


if __name__ == "__main__":
    main()
