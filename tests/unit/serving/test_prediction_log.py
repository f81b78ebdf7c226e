"""The durable prediction log (serving/prediction_log.py): on disk when log() returns, shipped once the store takes
it, left-overs of a killed process shipped by the next one, a store outage waited out on disk."""

from __future__ import annotations

import io
import json
import os
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from flywheel.core.prediction_log import COLUMNS
from flywheel.serving.prediction_log import PredictionLogWriter
from flywheel.storage import LocalStore


def _rows(n: int, start: int = 0) -> list[dict]:
    row = dict.fromkeys(COLUMNS)
    return [
        {**row, "request_id": "r", "entity_id": str(start + i), "model": "m", "version": "1", "arm": "champion"}
        | {"score": 0.5, "decision": 1, "latency_ms": 1.0, "status": "ok", "source": "api"}
        | {"predicted_at": datetime(2026, 1, 1, 12, 0, i % 60), "features": "{}"}
        for i in range(n)
    ]


def _logged(store: LocalStore) -> pd.DataFrame:
    files = store.list("m/*.parquet")
    return pd.concat([pd.read_parquet(io.BytesIO(store.read_bytes(f))) for f in files]) if files else pd.DataFrame()


class _DownStore(LocalStore):
    """A predictions store that refuses every write while ``down``."""

    down = True

    def write_bytes(self, name: str, data: bytes) -> str:
        if _DownStore.down:
            raise ConnectionError("store unreachable")
        return super().write_bytes(name, data)


def test_records_are_on_disk_when_log_returns_and_in_the_store_after_a_flush(tmp_path: Path):
    store = LocalStore(str(tmp_path / "store"))
    writer = PredictionLogWriter(store, "m", spool_dir=tmp_path / "spool")
    pending = []
    writer.on_pending = pending.append
    writer.log(_rows(3))
    (segment,) = (tmp_path / "spool" / "m").glob("*.jsonl")
    assert [json.loads(line)["entity_id"] for line in segment.read_text().splitlines()] == ["0", "1", "2"]
    assert store.list() == []  # nothing shipped yet: the answer did not wait for the store
    assert writer.flush() == 3 and not segment.exists()
    logged = _logged(store)
    assert list(logged.columns) == COLUMNS and list(logged.entity_id) == ["0", "1", "2"]
    assert logged.predicted_at.dtype.kind == "M" and sum(pending) == 0


def test_a_killed_writers_segment_is_shipped_by_the_next_one_without_its_cut_record(tmp_path: Path):
    store, spool = LocalStore(str(tmp_path / "store")), tmp_path / "spool"
    killed = PredictionLogWriter(store, "m", spool_dir=spool)
    killed.log(_rows(2))
    os.close(killed._segment.fd)  # what the kernel does for a killed process: its lock goes, nothing is flushed
    (segment,) = (spool / "m").glob("*.jsonl")
    with segment.open("a") as file:
        file.write('{"request_id": "cut sh')  # the write a kill interrupted: that request got no answer
    pending: list[int] = []
    successor = PredictionLogWriter(store, "m", spool_dir=spool)
    successor.on_pending = pending.append
    successor.start()
    successor.stop()
    assert pending[0] == 2 and sum(pending) == 0
    assert list(_logged(store).entity_id) == ["0", "1"] and not list((spool / "m").glob("*.jsonl"))


def test_a_live_writers_open_segment_is_not_taken_by_another_worker(tmp_path: Path):
    store, spool = LocalStore(str(tmp_path / "store")), tmp_path / "spool"
    live, other = (PredictionLogWriter(store, "m", spool_dir=spool) for _ in range(2))
    live.log(_rows(2))
    assert other.flush() == 0 and store.list() == []  # locked: the live worker is still appending to it
    live.log(_rows(1, start=2))
    assert live.flush() == 3 and list(_logged(store).entity_id) == ["0", "1", "2"]


def test_a_store_outage_is_waited_out_on_disk_and_shipping_twice_adds_nothing(tmp_path: Path):
    store, spool = _DownStore(str(tmp_path / "store")), tmp_path / "spool"
    writer = PredictionLogWriter(store, "m", spool_dir=spool, max_bytes=10_000)
    _DownStore.down = True
    writer.log(_rows(40))
    with pytest.raises(ConnectionError):
        writer.flush()
    writer.log(_rows(40, start=40))
    with pytest.raises(ConnectionError):
        writer.flush()
    assert len(list((spool / "m").glob("*.jsonl"))) == 2 and writer.spool_bytes > 10_000
    _DownStore.down = False
    (first, _) = sorted((spool / "m").glob("*.jsonl"))
    kept = first.read_bytes()
    assert writer.flush() == 80 and writer.spool_bytes == 0
    names = store.list("m/*.parquet")
    # A crash between the store's answer and the delete ships the segment again: the same file, the same rows.
    first.write_bytes(kept)
    assert writer.flush() == 40 and store.list("m/*.parquet") == names
    assert sorted(_logged(store).entity_id.astype(int)) == list(range(80))


def test_a_new_segment_is_never_seen_unlocked_by_a_shipper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A writer opening segment after segment while another worker's shipper loops over the folder: every record
    arrives. The writer's lock is slowed by 5 ms to widen the moment between creating a segment and locking it;
    a segment visible in that moment was shipped empty and deleted under its writer (records lost: a 5-minute soak
    found it), so a new segment is created hidden, locked, then renamed."""
    import fcntl
    import threading

    from flywheel.serving import prediction_log

    real_flock = fcntl.flock

    def slow_writer_lock(fd: int, operation: int) -> None:
        if operation == fcntl.LOCK_EX:  # the writer's blocking lock; the shipper's is non-blocking
            time.sleep(0.005)
        real_flock(fd, operation)

    monkeypatch.setattr(prediction_log.fcntl, "flock", slow_writer_lock)
    store, spool = LocalStore(str(tmp_path / "store")), tmp_path / "spool"
    writer, shipper = (PredictionLogWriter(store, "m", spool_dir=spool) for _ in range(2))
    done = threading.Event()

    def ship() -> None:
        while not done.is_set():
            shipper.flush()

    thread = threading.Thread(target=ship)
    thread.start()
    try:
        for i in range(100):
            writer.log(_rows(1, start=i))
            with writer._lock:  # close the segment without shipping: the next log() opens a new one
                segment, writer._segment = writer._segment, None
            segment.close()
    finally:
        done.set()
        thread.join()
    writer.flush()
    assert sorted(_logged(store).entity_id.astype(int)) == list(range(100))
