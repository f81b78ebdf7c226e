"""Scenario 2: the ingest and `dbt build` killed with SIGKILL at random points, then retried, on DuckDB and on
PostgreSQL: every raw, staging and mart table ends with the row count and content checksum of a clean run, and
no key appears twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from contextlib import ExitStack

import pandas as pd
import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.settings import Settings, get_settings
from flywheel_replay.landing import replay_months
from tests.helpers import fresh_postgres_database, settings_env
from tests.reliability.helpers import BIN, PYTHON

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.postgres]

MONTHS = ("2011-01", "2011-12")  # twelve monthly bike batches (8,645 hours)
# `make test` kills each step 3 times per backend; `make bench` 5.
KILLS_PER_STEP = int(os.environ.get("FLYWHEEL_RELIABILITY_KILLS_PER_STEP", "3"))
KEYS = {  # what must be unique in each table
    "raw.bike_hourly_rentals": ["_batch_id", "_row_number"],
    "staging.stg_bike_sharing__hourly_rentals": ["rental_hour_key"],
    "marts.fct_hourly_rentals": ["rental_hour_key"],
    "marts.ml_bike_demand_features": ["rental_hour_key"],
}
RUN_DEPENDENT = ("_loaded_at", "loaded_at")  # when, not what: differs between two clean runs

# Touches FLYWHEEL_TEST_STARTED once imported, so the kill is timed against the ingest itself, not Python's start.
INGEST = (
    "import os, pathlib; from flywheel.jobs.ingest import ingest_all; from flywheel.workspace import Workspace; "
    "pathlib.Path(os.environ['FLYWHEEL_TEST_STARTED']).touch(); ingest_all(Workspace.from_environment())"
)


def _dbt(settings: Settings) -> list[str]:
    return [
        str(BIN / "dbt"),
        "build",
        "--target",
        settings.dbt_target,
        "--target-path",
        str(settings.dbt_target_path),
    ]


def _run(settings: Settings, args: list[str], kill_after: float | None) -> tuple[int, float]:
    """Run ``args``; with ``kill_after``, SIGKILL it that many seconds into its work unless it finished first.
    Returns the exit code and the seconds of work (for the ingest, counted from the end of its imports)."""
    started = settings.home / "started"
    started.unlink(missing_ok=True)
    env = {**os.environ, **settings_env(settings), **settings.dbt_env(), "FLYWHEEL_TEST_STARTED": str(started)}
    process = subprocess.Popen(
        args, cwd=settings.dbt_project_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if args[0] == PYTHON:
        while not started.exists() and process.poll() is None:
            time.sleep(0.01)
    began = time.monotonic()
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    code = process.wait(timeout=900)
    return code, time.monotonic() - began


def _timed(settings: Settings, args: list[str]) -> float:
    code, seconds = _run(settings, args, None)
    assert code == 0, args
    return seconds


def _fingerprint(settings: Settings) -> dict[str, tuple[int, int, int]]:
    """Per table: rows, distinct keys, and a checksum of the content that does not depend on row order."""
    warehouse = open_warehouse(settings)
    prints = {}
    for table, key in KEYS.items():
        frame = warehouse.query_df(f"select * from {table}")
        frame = frame.drop(columns=[c for c in frame.columns if c in RUN_DEPENDENT])
        content = pd.util.hash_pandas_object(frame.astype(str), index=False)
        distinct = len(frame[key].drop_duplicates())
        prints[table] = (len(frame), distinct, int(content.sum() % (1 << 61)))
    return prints


def _home(stack: ExitStack, tmp_path, backend: str, label: str) -> Settings:
    url = stack.enter_context(fresh_postgres_database()) if backend == "postgres" else ""
    settings = Settings(home=tmp_path / f"{backend}-{label}", project_dir=get_settings().project_dir, warehouse_url=url)
    replay_months(*MONTHS, settings)
    return settings


def _work_left(settings: Settings, args: list[str], clean_seconds: float) -> float:
    """Seconds of work the next attempt has, from the clean run: the ingest loads only the batch files still in
    landing (a killed attempt keeps the batches it committed), `dbt build` rebuilds every model each time."""
    if args[0] != PYTHON:
        return clean_seconds
    batches = len(list((settings.home / "landing").rglob("*.csv")))
    return clean_seconds * batches / len(pd.period_range(*MONTHS, freq="M"))


def _killed_until(settings: Settings, args: list[str], clean_seconds: float, rng: random.Random) -> list[int]:
    """Attempts of ``args``, each SIGKILLed at a random point of the work it has left, until ``KILLS_PER_STEP``
    of them died mid-run (an attempt can finish first on a fast moment: it counts, and the next one has less to
    do); returns their exit codes. The kills are drawn from the work left, not the clean run's whole length: a
    later ingest attempt has fewer batches to load, and a kill drawn from the full length would mostly land after
    it finished (the first CI run saw 4 of 10 attempts die, not 5)."""
    codes: list[int] = []
    while codes.count(-signal.SIGKILL) < KILLS_PER_STEP and len(codes) < 4 * KILLS_PER_STEP:
        left = _work_left(settings, args, clean_seconds)
        if left == 0:
            break  # everything is loaded: nothing left to interrupt
        codes.append(_run(settings, args, kill_after=rng.uniform(0.05, 0.7) * left)[0])
    return codes


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_killed_ingest_and_dbt_build_retried_equal_a_clean_run(backend, tmp_path, capsys):
    rng = random.Random(11)
    with ExitStack() as stack:
        clean = _home(stack, tmp_path, backend, "clean")
        ingest_seconds = _timed(clean, [PYTHON, "-c", INGEST])
        dbt_seconds = _timed(clean, _dbt(clean))
        expected = _fingerprint(clean)
        assert all(rows == distinct > 0 for rows, distinct, _ in expected.values()), expected

        killed = _home(stack, tmp_path, backend, "killed")
        attempts = {}
        for step, args, seconds in (
            ("ingest", [PYTHON, "-c", INGEST], ingest_seconds),
            ("dbt build", _dbt(killed), dbt_seconds),
        ):
            attempts[step] = _killed_until(killed, args, seconds, rng)
            assert _run(killed, args, None)[0] == 0, args  # the retry
        assert _fingerprint(killed) == expected

    with capsys.disabled():
        print(
            f"\n{backend}: ingest {ingest_seconds:.1f} s, dbt build {dbt_seconds:.1f} s clean; "
            + "; ".join(
                f"{step}: {c.count(-signal.SIGKILL)} of {len(c)} attempts killed mid-run"
                for step, c in attempts.items()
            )
            + "; after the retries every table equals the clean run"
        )
    for step, codes in attempts.items():
        assert codes.count(-signal.SIGKILL) == KILLS_PER_STEP, (step, codes)
