"""The shadow stage's scorer: the challenger scores every record beside the champion, off the answer's path.

The answer never waits for the shadow model. A request hands its records to a bounded queue (a constant-time,
non-blocking put) and returns; one background thread collects what arrives for ``batch_seconds`` after the first
record, scores it in one frame and logs it with the arm ``shadow``. Collecting first matters: scikit-learn's
per-call overhead dominates a one-row prediction, and scoring each request as it came competed with the next
answers for the CPU (and the GIL): single-record p50 latency went from 17 ms to 32 ms (benchmarks/shadow.py);
one call per half second costs the answers next to nothing (docs/shadow-benchmark.md).
A shadow model that raises logs error rows (they count against its canary); one that hangs holds only this
thread: the queue fills, further records are skipped and counted, and answers go on as before.

Batch scoring has no answer to protect: it scores the shadow model in line (``synchronous``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

QUEUE_REQUESTS = 1000  # requests waiting for the shadow model before new ones are skipped
BATCH_SECONDS = 0.5  # how long the shadow collects records before scoring them in one call


@dataclass(frozen=True)
class ShadowWork:
    model: Any  # flywheel.serving.models.LoadedModel
    records: list[dict[str, Any]]
    request_id: str


# Scores one LoadedModel on many records: returns (scores, decisions); raises what the model raises.
ScoreFn = Callable[[Any, list[dict[str, Any]]], tuple[list[float], list[int | None]]]
# The log rows of scored (or failed) records: (model, records, scores, decisions, latency ms, status, request_id).
RowsFn = Callable[[Any, list[dict[str, Any]], list[Any], list[Any], float, str, str], list[dict[str, Any]]]


class ShadowScorer:
    def __init__(
        self,
        score: ScoreFn,
        rows: RowsFn,
        emit: Callable[[list[dict[str, Any]]], None],
        on_skipped: Callable[[int], None] = lambda n: None,
        on_pending: Callable[[int], None] = lambda n: None,
        synchronous: bool = False,
        queue_requests: int = QUEUE_REQUESTS,
        batch_seconds: float = BATCH_SECONDS,
    ):
        self.batch_seconds = batch_seconds
        self._score, self._rows, self._emit, self._on_skipped = score, rows, emit, on_skipped
        # Told every change in the records accepted and not yet handed to ``emit`` (scored and logged, or failed):
        # the service counts them, summed across its workers, as /ready's log_pending.
        self._on_pending = on_pending
        self.synchronous = synchronous
        self._queue: queue.Queue[ShadowWork] = queue.Queue(maxsize=queue_requests)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, work: ShadowWork) -> None:
        """Never raises, never blocks (unless ``synchronous``: batch scoring)."""
        if self.synchronous:
            self._run([work])
            return
        self._ensure_thread()
        self._on_pending(len(work.records))
        try:
            self._queue.put_nowait(work)
        except queue.Full:
            self._on_pending(-len(work.records))
            self._on_skipped(len(work.records))

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="shadow-scorer", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            until = time.monotonic() + self.batch_seconds
            while (left := until - time.monotonic()) > 0:
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            self._run(batch)

    def _run(self, batch: list[ShadowWork]) -> None:
        """Score every queued request of one model version in one call; log each request's rows."""
        by_model: dict[tuple[str, str], list[ShadowWork]] = {}
        for work in batch:
            by_model.setdefault((work.model.name, work.model.version), []).append(work)
        for works in by_model.values():
            records = [r for w in works for r in w.records]
            started = time.perf_counter()
            scores: list[float | None]
            decisions: list[int | None]
            try:
                scored, decided = self._score(works[0].model, records)
                scores, decisions, status = list(scored), list(decided), "ok"
            except Exception:
                log.exception("shadow model v%s failed on %d records", works[0].model.version, len(records))
                scores, decisions, status = [None] * len(records), [None] * len(records), "error"
            ms = (time.perf_counter() - started) * 1000
            rows: list[dict[str, Any]] = []
            offset = 0
            for w in works:
                n = len(w.records)
                rows += self._rows(
                    w.model,
                    w.records,
                    scores[offset : offset + n],
                    decisions[offset : offset + n],
                    ms,
                    status,
                    w.request_id,
                )
                offset += n
            try:
                self._emit(rows)
            except Exception:  # the log is the shadow's only output: a failure here must not reach an answer
                log.exception("shadow rows of v%s could not be logged", works[0].model.version)
            finally:
                if not self.synchronous:
                    self._on_pending(-len(records))
