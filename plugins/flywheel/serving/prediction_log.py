"""Prediction log, off the request path: records queue in memory and a background thread writes them in batches
as Parquet files to the predictions store; ``data.predictions`` loads the files into the warehouse.

Files, not direct inserts, because a serving process must never wait on (or lock) the warehouse: the embedded
DuckDB allows one writer, and a slow Postgres must not slow requests. Each file is written once, whole.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flywheel.core.prediction_log import COLUMNS
from flywheel.storage import Store

log = logging.getLogger(__name__)


class PredictionLogWriter:
    def __init__(self, store: Store, model: str, flush_seconds: float = 1.0, max_batch: int = 5000):
        self.store, self.model = store, model
        # Told every change in the records handed to log() and not yet in a written file (the service counts
        # them, summed across its workers, as /ready's log_pending: the demo waits for 0 before a canary reads).
        # Changes, not the queue's size: a batch being written has left the queue but is not in the store yet.
        self.on_pending: Callable[[int], None] = lambda n: None
        self.flush_seconds, self.max_batch = flush_seconds, max_batch
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"prediction-log-{model}", daemon=True)
        self.files_written = 0

    def start(self) -> None:
        self._thread.start()

    def log(self, records: list[dict[str, Any]]) -> None:
        self.on_pending(len(records))
        for record in records:
            self._queue.put(record)

    def _drain(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def flush(self) -> int:
        written = 0
        while batch := self._drain():
            try:
                write_log_file(self.store, self.model, batch)
            except Exception:
                for record in batch:  # nothing is lost: the records go back and the next flush retries
                    self._queue.put(record)
                raise
            self.files_written += 1
            written += len(batch)
            self.on_pending(-len(batch))
        return written

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:
                log.exception("%s: writing the prediction log failed; will retry", self.model)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.flush()


def write_log_file(store: Store, model: str, records: list[dict[str, Any]]) -> str:
    import pandas as pd

    frame = pd.DataFrame(records, columns=COLUMNS)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return store.write_bytes(f"{model}/{day}/{uuid.uuid4().hex}.parquet", buffer.getvalue())
