"""What a shadow model costs the answer: single-record p50 latency of `flywheel serve` with the challenger in a
shadow stage against the same service without it, in alternating rounds in one run, one process, the same records.

The shadow is switched on and off through the registry as the canary does it (the challenger's canary tags), so the
service measured is the real one: its registry watch, routing, prediction log and the shadow's background scorer.
The shadow model is @challenger if one is set, else the newest other version, else the champion itself (the same
cost per record as any version of the spec). The registry's aliases and tags are put back at the end.

Usage (after `make demo`, so that a champion exists; one OpenMP/BLAS thread per process, as in the tests):
    .venv/bin/python benchmarks/shadow.py [--rounds 7] [--requests 300] [--out docs/shadow-benchmark.md]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402  (the thread limits above must come before numpy loads)
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402

from flywheel.data.warehouse import open_warehouse  # noqa: E402
from flywheel.registry import canary_state, register, tracking  # noqa: E402
from flywheel.serving.process import flywheel_serve  # noqa: E402
from flywheel.settings import apply_environment  # noqa: E402
from flywheel.specs import load_spec  # noqa: E402
from flywheel_replay.traffic import month_records  # noqa: E402

MODEL = "hotel_cancellation"
REFRESH_SECONDS = 0.5


def _shadow_version(client, champion: str) -> str:
    challenger = register.alias_version(client, MODEL, register.CHALLENGER)
    if challenger:
        return challenger
    versions = sorted((int(v.version) for v in client.search_model_versions(f"name='{MODEL}'")), reverse=True)
    return str(next((v for v in versions if str(v) != champion), champion))


def _round(http: httpx.Client, url: str, records: list[dict], offset: int, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        record = {**records[(offset + i) % len(records)], "entity_id": f"bench-{offset + i}"}
        started = time.perf_counter()
        http.post(url + "/predict", json={"records": [record]}).raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--month", default="2016-06")
    parser.add_argument("--out", type=Path, default=Path("docs/shadow-benchmark.md"))
    options = parser.parse_args()

    settings = apply_environment()
    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    records = month_records(spec, open_warehouse(settings), options.month)
    client = tracking.client(settings)
    champion = register.alias_version(client, MODEL, register.CHAMPION)
    if champion is None or not records:
        raise SystemExit(f"{MODEL} needs a @champion and {options.month} rows: run `make demo` first")
    previous_challenger = register.alias_version(client, MODEL, register.CHALLENGER)
    shadow = _shadow_version(client, champion)
    previous_tags = dict(client.get_model_version(MODEL, shadow).tags)
    env = {"FLYWHEEL_SERVE_REFRESH_SECONDS": str(REFRESH_SECONDS), "FLYWHEEL_SERVE_RATE_LIMIT_PER_MINUTE": "10000000"}

    def switch(on: bool) -> None:
        canary_state.write(client, MODEL, shadow, status="running" if on else "paused", step=0, share=0.0, shadow=on)
        time.sleep(3 * REFRESH_SECONDS)  # the service's registry watch picks it up

    results: dict[str, list[float]] = {"without shadow": [], "with shadow": []}
    client.set_registered_model_alias(MODEL, register.CHALLENGER, shadow)
    try:
        with flywheel_serve(MODEL, settings.home / "logs" / "bench-shadow.log", env) as url, httpx.Client() as http:
            _round(http, url, records, 0, 100)  # warm-up: imports, first predictions
            offset = 100
            for round_ in range(options.rounds):
                for kind in results if round_ % 2 == 0 else reversed(results):
                    switch(kind == "with shadow")
                    results[kind].append(statistics.median(_round(http, url, records, offset, options.requests)))
                    offset += options.requests
                print(
                    f"round {round_ + 1}/{options.rounds}: "
                    + ", ".join(f"{k} {v[-1]:.2f} ms" for k, v in results.items()),
                    flush=True,
                )
    finally:
        for key in list(client.get_model_version(MODEL, shadow).tags):
            if key.startswith(canary_state.PREFIX) and key not in previous_tags:
                client.delete_model_version_tag(MODEL, shadow, key)
        for key, value in previous_tags.items():
            client.set_model_version_tag(MODEL, shadow, key, value)
        if previous_challenger:
            client.set_registered_model_alias(MODEL, register.CHALLENGER, previous_challenger)
        else:
            client.delete_registered_model_alias(MODEL, register.CHALLENGER)

    base, shadowed = (statistics.median(results[k]) for k in ("without shadow", "with shadow"))
    ratios = [b / a for a, b in zip(results["without shadow"], results["with shadow"], strict=True)]
    table = "\n".join(
        [
            "| service | single-record p50 ms (median of rounds) | rounds |",
            "| --- | ---: | ---: |",
            f"| champion v{champion} alone | {base:.2f} | {options.rounds} |",
            f"| champion v{champion} + shadow v{shadow} | {shadowed:.2f} | {options.rounds} |",
            f"| ratio (median of per-round ratios) | {statistics.median(ratios):.3f} | |",
        ]
    )
    print(table)
    options.out.write_text(
        "# Shadow benchmark\n\n"
        f"`benchmarks/shadow.py --rounds {options.rounds} --requests {options.requests}`: one `flywheel serve` "
        "process, one sequential client on loopback, single-record requests (2016-06 bookings), the shadow switched "
        "on and off through the registry in alternating rounds (medians of per-round p50s). The target: the shadow "
        "adds at most 20 % to the champion's single-record p50.\n\n" + table + "\n"
    )


if __name__ == "__main__":
    main()
