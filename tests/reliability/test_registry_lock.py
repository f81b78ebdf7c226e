"""Scenario 6, across hosts: the registry lock serialises processes that share only the PostgreSQL warehouse (each
with a home of its own, as Celery workers on several hosts have), and a holder killed with SIGKILL releases it.
The same harness shows why the embedded file lock is for one host only: across homes it does not serialise."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import fresh_postgres_database
from tests.reliability.helpers import PYTHON

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

PROCESSES = 6
HOLD_SECONDS = 0.3

# argv: home, warehouse url, go-file, hold seconds (-1: hold until killed). Prints when it got the lock and let go.
HOLDER = """
import json, sys, time
from pathlib import Path
from flywheel.registry.lock import registry_lock
from flywheel.settings import Settings
settings = Settings(home=Path(sys.argv[1]), warehouse_url=sys.argv[2])
go, hold = Path(sys.argv[3]), float(sys.argv[4])
while not go.exists():
    time.sleep(0.005)
with registry_lock("bike_demand", settings):
    got = time.time()
    print(json.dumps({"got": got}), flush=True)
    time.sleep(hold if hold >= 0 else 3600)
    print(json.dumps({"got": got, "released": time.time()}), flush=True)
"""


def _start(home: Path, url: str, go: Path, hold: float) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-c", HOLDER, str(home), url, str(go), str(hold)],
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("FLYWHEEL_")},
    )


def _held_intervals(tmp_path: Path, url: str, homes: list[Path]) -> list[tuple[float, float]]:
    """Start one holder per home, release them at once, return each one's (got, released), in order of got."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    go = tmp_path / "go"
    holders = [_start(home, url, go, HOLD_SECONDS) for home in homes]
    time.sleep(3)  # every holder imported and waiting for the go
    go.touch()
    intervals = []
    for holder in holders:
        out, _ = holder.communicate(timeout=120)
        assert holder.returncode == 0
        last = json.loads(out.strip().splitlines()[-1])
        intervals.append((last["got"], last["released"]))
    return sorted(intervals)


def _overlaps(intervals: list[tuple[float, float]]) -> int:
    return sum(later[0] < earlier[1] for earlier, later in itertools.pairwise(intervals))


def test_processes_on_separate_homes_are_serialised_by_the_postgres_lock(tmp_path):
    with fresh_postgres_database() as url:
        intervals = _held_intervals(tmp_path, url, [tmp_path / f"host-{i}" for i in range(PROCESSES)])
    assert _overlaps(intervals) == 0, intervals
    assert intervals[-1][1] - intervals[0][0] >= PROCESSES * HOLD_SECONDS  # they really queued


def test_the_embedded_file_lock_serialises_one_home_but_not_separate_ones(tmp_path, capsys):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    one_home = _held_intervals(tmp_path / "one", url, [tmp_path / "one" / "home"] * PROCESSES)
    assert _overlaps(one_home) == 0, one_home
    separate = _held_intervals(tmp_path / "many", url, [tmp_path / "many" / f"host-{i}" for i in range(PROCESSES)])
    with capsys.disabled():
        print(
            f"\nfile locks: one home {_overlaps(one_home)} overlaps, {PROCESSES} homes {_overlaps(separate)} overlaps"
        )
    assert _overlaps(separate) > 0, separate  # why production's lock lives in PostgreSQL


def test_a_holder_killed_with_sigkill_releases_the_postgres_lock(tmp_path, capsys):
    go = tmp_path / "go"
    go.touch()
    with fresh_postgres_database() as url:
        holder = _start(tmp_path / "a", url, go, -1)
        assert "got" in holder.stdout.readline()
        waiter = _start(tmp_path / "b", url, go, 0)
        time.sleep(3)
        assert waiter.poll() is None, "the waiter got the lock while its holder was alive"
        killed_at = time.time()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        out, _ = waiter.communicate(timeout=60)
        got = json.loads(out.strip().splitlines()[-1])["got"]
        with capsys.disabled():
            print(f"\nthe waiter got the lock {got - killed_at:.2f} s after its holder was killed")
        assert killed_at <= got <= killed_at + 10, (killed_at, got)
