"""What a piece of work costs (a training, a monitor window): wall seconds, CPU seconds (the process and the
worker processes it starts: the search's and the importance's loky workers) and peak resident memory (the same
processes, sampled).

CPU seconds are the figure to compare strategies and to price (``money`` at a price per CPU-hour): wall time
depends on how busy the machine is, CPU time much less.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]  # types-psutil is not in the lock

SAMPLE_SECONDS = 0.2


@dataclass
class TrainingCost:
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory_mb: float = 0.0

    def money(self, price_per_cpu_hour: float) -> float:
        return self.cpu_seconds / 3600 * price_per_cpu_hour


def _processes() -> list[psutil.Process]:
    """This process and its joblib (loky) workers; not other children (the demo's `flywheel serve` is one)."""
    me, found = psutil.Process(), [psutil.Process()]
    for child in me.children(recursive=True):
        try:
            if "loky" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _read(cpu: dict[int, float]) -> int:
    """Each process's CPU seconds into ``cpu`` (a worker that exits keeps its last reading); their total RSS."""
    rss = 0
    for process in _processes():
        try:
            cpu[process.pid] = _cpu(process)
            rss += process.memory_info().rss
        except psutil.Error:
            continue
    return rss


@contextmanager
def measured() -> Iterator[TrainingCost]:
    """The cost of the work inside the ``with``; filled in when it ends. A worker process that existed before
    counts only the CPU it spent since (loky keeps its workers between trainings of one process)."""
    cost, started, done = TrainingCost(), time.monotonic(), threading.Event()
    before: dict[int, float] = {}
    _read(before)
    last = dict(before)

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            cost.peak_memory_mb = max(cost.peak_memory_mb, _read(last) / 2**20)

    sampler = threading.Thread(target=sample, name="training-cost", daemon=True)
    sampler.start()
    try:
        yield cost
    finally:
        done.set()
        sampler.join()
        cost.peak_memory_mb = max(cost.peak_memory_mb, _read(last) / 2**20)
        cost.wall_seconds = time.monotonic() - started
        cost.cpu_seconds = sum(cpu - before.get(pid, 0.0) for pid, cpu in last.items())
