"""Throughput and p50 / p99 latency of `flywheel serve` against `mlflow models serve`, on the same model
(the current @champion), the same records and the same client, measured in alternating rounds in one run.

Usage (after `make demo`, so that a champion exists):
    .venv/bin/python benchmarks/serving.py [--rounds 3] [--requests 300] [--connections 1 8 32] [--dataframe]
        [--workers 1 2] [--out docs/serving-benchmark.md] [--json PATH]

Single records go over 1, 8 and 32 concurrent connections (a thread and a keep-alive client each), batches of 100
over one; every load is bounded by ``--requests``. A 5xx answer is counted, not fatal. ``--dataframe`` adds a
`flywheel serve` without its compiled model (serving.compiled), to show what the fast path saves. Our service does
more per request than MLflow's (schema validation, routing, prediction log, metrics); the table shows what that
costs, and the ratio to `mlflow models serve`'s requests per second under the same load in the same run.
``--workers 1 2`` runs both servers once per worker-process count (`flywheel serve --workers`, `mlflow models
serve --workers`); each ratio compares the same count. The load generator shares the machine's cores with them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from flywheel.data.warehouse import open_warehouse
from flywheel.serving.process import BIN, flywheel_serve, free_port, server_process
from flywheel.settings import apply_environment
from flywheel.specs import load_spec
from flywheel_replay.traffic import month_records

MODEL = "hotel_cancellation"


def _measure(url: str, bodies: list[dict], connections: int) -> tuple[list[float], float, int]:
    """Send ``bodies`` over ``connections`` concurrent keep-alive connections (each its own thread and client);
    returns every request's latency (ms), the wall time, and how many answers were 5xx (counted, not fatal)."""
    from concurrent.futures import ThreadPoolExecutor

    latencies: list[float] = []
    server_errors = 0
    shares = [bodies[i::connections] for i in range(connections)]

    def send(share: list[dict]) -> tuple[list[float], int]:
        mine, errors = [], 0
        with httpx.Client(timeout=60) as http:
            for body in share:
                t = time.perf_counter()
                response = http.post(url, json=body)
                mine.append((time.perf_counter() - t) * 1000)
                errors += response.status_code >= 500
                if response.status_code < 500:
                    response.raise_for_status()
        return mine, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        for mine, errors in pool.map(send, shares):
            latencies += mine
            server_errors += errors
    return latencies, time.perf_counter() - started, server_errors


def _name(server: str, threads: int, thread_counts: list[int], workers: int) -> str:
    name = server if thread_counts == [1] else f"{server}, {threads} model thread(s)"
    return name if workers == 1 else f"{name}, {workers} workers"


def _options() -> argparse.Namespace:
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
    parser.add_argument(
        "--dataframe", action="store_true", help="also a flywheel serve without the compiled model (its DataFrame path)"
    )
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[1, 8, 32], help="concurrent connections for single records"
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="worker processes: both servers once per count"
    )
    parser.add_argument("--json", type=Path, help="also write the figures and the ratios to mlflow as JSON here")
    return parser.parse_args()


def main() -> None:
    options = _options()

    settings = apply_environment()
    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    records = month_records(spec, open_warehouse(settings), "2016-06")
    features = spec.features.all
    logs = settings.home / "logs"

    def mlflow_serve(workers: int) -> contextlib.AbstractContextManager[str]:
        port = free_port()
        args = [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{MODEL}@champion", "--env-manager", "local"]
        args += ["-p", str(port), "-h", "127.0.0.1", "--workers", str(workers)]
        return server_process(args, port, "/ping", logs / f"bench-mlflow-{workers}.log", timeout=300)

    def bodies(kind: str, size: int) -> list[dict]:
        chunks = [records[(i * size) % (len(records) - size) :][:size] for i in range(options.requests)]
        if kind == "flywheel":
            return [{"records": chunk} for chunk in chunks]
        return [{"dataframe_records": [{f: r[f] for f in features} for r in chunk]} for chunk in chunks]

    variants = [
        (
            _name("flywheel serve", t, options.model_threads, w),
            {"FLYWHEEL_SERVE_MODEL_THREADS": str(t), "FLYWHEEL_SERVE_WORKERS": str(w)},
        )
        for w in options.workers
        for t in options.model_threads
    ]
    if options.dataframe:
        variants.append(("flywheel serve, DataFrame path", {"FLYWHEEL_SERVE_COMPILED": "false"}))
    workers_of = {name: int(env.get("FLYWHEEL_SERVE_WORKERS", "1")) for name, env in variants}
    # (server, records per request, connections) -> one (latencies, seconds, 5xx) per round
    results: dict[tuple[str, int, int], list[tuple[list[float], float, int]]] = {}
    loads = [(1, c) for c in options.connections] + [(100, 1)]
    with contextlib.ExitStack() as stack:
        servers = [
            (name, stack.enter_context(flywheel_serve(MODEL, logs / f"bench-flywheel-{i}.log", env)), "/predict")
            for i, (name, env) in enumerate(variants)
        ]
        for w in options.workers:
            name = _name("mlflow models serve", 1, [1], w)
            workers_of[name] = w
            servers.append((name, stack.enter_context(mlflow_serve(w)), "/invocations"))
        for round_ in range(options.rounds):
            for size, connections in loads:
                for kind, url, path in servers:
                    body = bodies("mlflow" if path == "/invocations" else "flywheel", size)
                    results.setdefault((kind, size, connections), []).append(_measure(url + path, body, connections))
            print(f"round {round_ + 1}/{options.rounds} done", flush=True)

    _write(_figures(results, workers_of), options)


def _write(figures: list[dict], options: argparse.Namespace) -> None:
    lines = [
        "| server | records per request | connections | requests | p50 ms | p99 ms | requests/s | records/s "
        "| requests/s vs mlflow | 5xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in figures:
        lines.append(
            f"| {f['server']} | {f['records_per_request']} | {f['connections']} | {options.requests} x "
            f"{options.rounds} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {f['requests_per_s']:.0f} | "
            f"{f['records_per_s']:.0f} | {f['vs_mlflow']:.2f}x | {f['server_errors']} |"
        )
    table = "\n".join(lines)
    print(table)
    command = " ".join(["benchmarks/serving.py", f"--rounds {options.rounds}", f"--requests {options.requests}"])
    if options.workers != [1]:
        command += " --workers " + " ".join(map(str, options.workers))
    options.out.write_text(
        "# Serving benchmark\n\n"
        f"`{command}`: requests on loopback, the servers measured in alternating rounds in one run (medians over "
        "rounds); single records over 1, 8 and 32 concurrent keep-alive connections, batches of 100 over one. Same "
        "model (@champion), same records (2016-06 bookings).\n\n" + table + "\n"
    )
    if options.json:
        options.json.write_text(json.dumps({"command": command, "figures": figures}, indent=2))


def _figures(
    results: dict[tuple[str, int, int], list[tuple[list[float], float, int]]], workers_of: dict[str, int]
) -> list[dict]:
    """Medians over rounds per (server, records per request, connections), with the ratio of requests per second
    to `mlflow models serve`'s with as many workers, under the same load in the same run."""
    figures: list[dict[str, Any]] = []
    for (kind, size, connections), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        rps = statistics.median(len(lat) / seconds for lat, seconds, _ in runs)
        figures.append(
            {
                "server": kind,
                "workers": workers_of[kind],
                "records_per_request": size,
                "connections": connections,
                "p50_ms": statistics.median(statistics.median(lat) for lat, _, _ in runs),
                "p99_ms": statistics.median(statistics.quantiles(lat, n=100)[98] for lat, _, _ in runs),
                "requests_per_s": rps,
                "records_per_s": rps * size,
                "server_errors": sum(errors for _, _, errors in runs),
            }
        )
    mlflow = {
        (f["workers"], f["records_per_request"], f["connections"]): f["requests_per_s"]
        for f in figures
        if "mlflow" in f["server"]
    }
    for f in figures:
        f["vs_mlflow"] = f["requests_per_s"] / mlflow[(f["workers"], f["records_per_request"], f["connections"])]
    return figures


if __name__ == "__main__":
    main()
