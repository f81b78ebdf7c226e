"""The prediction log: on local disk before the answer returns, shipped to the predictions store off the request path.

Every answered (and shadow) record is appended to a local segment file (JSON lines, one open segment per worker
process, under ``<spool>/<model>/``) with one unbuffered ``write`` before ``log`` returns: a process killed right
after its answer (SIGKILL, an OOM kill) has handed the record to the operating system. The fsync policy: each
segment is fsynced when it is closed, every ``flush_seconds``, so a crash of the whole machine loses at most that
long. A shipper thread closes the segment, writes it to the predictions store as one Parquet file named after the
segment (``<model>/<day>/<segment id>.parquet``) and deletes the segment only once the store took the file. It also
ships segments a dead process left behind, on start and on every round: a segment nobody holds locked (each writer
holds an ``flock`` on its open segment; a killed process's lock goes with it).

A segment shipped twice (a crash between the store's confirmation and the delete) writes the same file name with the
same rows, and ``data.predictions`` loads a file once: every record reaches the warehouse exactly once. While the
store is down, segments wait on disk: memory stays flat; the spool is bounded (``max_bytes``), its size is on
``/metrics`` and ``/ready`` reports the service not ready before it is full (``serving.app``).

Files, not direct inserts, because a serving process must never wait on (or lock) the warehouse: the embedded
DuckDB allows one writer, and a slow Postgres must not slow requests.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flywheel.core.prediction_log import COLUMNS
from flywheel.storage import Store

log = logging.getLogger(__name__)

SEGMENT = ".jsonl"


class _Segment:
    """One open segment file: appended to with single unbuffered writes, locked while open."""

    def __init__(self, folder: Path):
        # The day first (the store file's folder), then a unique id: the name fixes the store file's name.
        name = f"{datetime.now(UTC):%Y-%m-%d}_{uuid.uuid4().hex}{SEGMENT}"
        # Created under a name the shipper does not list, locked, then renamed (the lock stays with the file): a
        # shipper must never see a new segment unlocked, or it would ship it empty and delete it under its writer
        # (a 5-minute soak at 32 connections lost records that way before this).
        hidden = folder / f".{name}.new"
        self.fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.path = folder / name
        os.rename(hidden, self.path)
        self.rows = 0

    def append(self, data: bytes, rows: int) -> None:
        view = memoryview(data)
        while view:  # one write unless the kernel takes less
            view = view[os.write(self.fd, view) :]
        self.rows += rows

    def close(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)  # releases the lock: the shipper may take it


class PredictionLogWriter:
    def __init__(
        self,
        store: Store,
        model: str,
        flush_seconds: float = 1.0,
        spool_dir: Path | None = None,
        max_bytes: int = 1 << 30,
    ):
        self.store, self.model, self.flush_seconds, self.max_bytes = store, model, flush_seconds, max_bytes
        # Without a spool folder (tests, tools): a private temporary one, the same code path but not kept.
        self.folder = Path(spool_dir or tempfile.mkdtemp(prefix="prediction-spool-")) / model
        self.folder.mkdir(parents=True, exist_ok=True)
        # Told every change in the records handed to log() and not yet in a store file (the service counts them,
        # summed across its workers, as /ready's log_pending: the demo waits for 0 before a canary reads).
        self.on_pending: Callable[[int], None] = lambda n: None
        self._lock = threading.Lock()
        self._segment: _Segment | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"prediction-log-{model}", daemon=True)
        self._failing = False
        self.files_written = 0
        self.spooled = 0  # spool_bytes as of the last round (the request path reads this, not the folder)

    @property
    def spool_bytes(self) -> int:
        """Bytes of segments waiting in this model's spool folder (every worker's)."""
        total = 0
        for path in self.folder.glob(f"*{SEGMENT}"):
            try:
                total += path.stat().st_size
            except FileNotFoundError:  # shipped meanwhile
                continue
        return total

    def start(self) -> None:
        left = sum(_count_rows(path) for path in self._segments() if not _locked(path))
        if left:
            log.info("%s: %d logged records a stopped process left in the spool; shipping them", self.model, left)
            self.on_pending(left)
        self.spooled = self.spool_bytes
        self._thread.start()

    def log(self, records: list[dict[str, Any]]) -> None:
        """Append ``records`` to the open segment: in the operating system's hands when this returns."""
        if not records:
            return
        data = "".join(json.dumps(r, default=_plain, separators=(",", ":")) + "\n" for r in records).encode()
        with self._lock:
            if self._segment is None:
                self._segment = _Segment(self.folder)
            self._segment.append(data, len(records))
        self.on_pending(len(records))

    def flush(self) -> int:
        """Close the open segment and ship every segment nobody holds; returns the records shipped."""
        with self._lock:
            segment, self._segment = self._segment, None
        if segment is not None:
            segment.close()
        shipped = 0
        for path in self._segments():
            shipped += self._ship(path)  # skips the segments a live writer holds
        return shipped

    def _segments(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{SEGMENT}"))

    def _ship(self, path: Path) -> int:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # another worker shipped it
            return 0
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live writer's open segment
                return 0
            if not path.exists():  # shipped by another worker between our open and our lock
                return 0
            with os.fdopen(os.dup(fd), "rb") as file:
                rows = _parse(file.read())
            if rows:
                day, segment_id = path.stem.split("_", 1)
                write_log_file(self.store, self.model, rows, f"{self.model}/{day}/{segment_id}.parquet")
                self.files_written += 1
            path.unlink()  # only now: the store has the file
        finally:
            os.close(fd)
        self.on_pending(-len(rows))
        return len(rows)

    @property
    def full(self) -> bool:
        return self.spooled >= self.max_bytes

    def _run(self) -> None:
        while True:
            try:
                self.flush()
                if self._failing:
                    log.info("%s: the predictions store takes the log again", self.model)
                self._failing = False
            except Exception:
                if not self._failing:  # once per outage, not once a second
                    log.exception("%s: shipping the prediction log failed; it waits on disk and is retried", self.model)
                self._failing = True
            self.spooled = self.spool_bytes
            if self._stop.wait(self.flush_seconds):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        try:
            self.flush()
        except Exception:
            log.exception("%s: the prediction log stays in %s for the next start", self.model, self.folder)


def _plain(value: Any) -> Any:
    """JSON for the log's values that are not JSON already (timestamps; numpy scalars)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot log a {type(value).__name__}")


def _parse(data: bytes) -> list[dict[str, Any]]:
    """The records of a segment; a last line cut short (its writer was killed while writing it, so its answer never
    left) is dropped."""
    lines = data.split(b"\n")
    if lines and lines[-1]:
        log.warning("a prediction log segment ends in a partial record (its writer was killed); dropped")
    return [json.loads(line) for line in lines[:-1] if line]


def _locked(path: Path) -> bool:
    """Whether a live writer holds the segment (its open one)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True  # gone: nothing to count
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _count_rows(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def write_log_file(store: Store, model: str, records: list[dict[str, Any]], name: str | None = None) -> str:
    """One Parquet file of ``records`` in the store (``name``, else a new one under today's folder)."""
    import pandas as pd

    frame = pd.DataFrame(records, columns=COLUMNS)
    frame["predicted_at"] = pd.to_datetime(frame["predicted_at"])
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    name = name or f"{model}/{datetime.now(UTC):%Y-%m-%d}/{uuid.uuid4().hex}.parquet"
    return store.write_bytes(name, buffer.getvalue())
