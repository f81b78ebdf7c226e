"""The prediction log survives what production does to a service (docs/reliability.md, "Durable prediction log"):
`flywheel serve` SIGKILLed in the middle of a burst, and the predictions store (a moto S3 server behind a proxy that
can cut it) down for a whole burst. The service runs as its own process, as in production, on the bike template's
champion; eight clients send single records and batches of 20 with distinct entity ids."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import boto3
import httpx
import pytest

from flywheel.data import predictions
from flywheel.data.warehouse import open_warehouse
from flywheel.specs import load_spec
from flywheel.storage import open_store
from flywheel_replay.traffic import month_records
from tests.helpers import CuttableProxy, free_port, moto_s3_server, settings_env
from tests.reliability.helpers import BIN

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

MODEL = "bike_demand"
BUCKET = "flywheel"
ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",  # pragma: allowlist secret
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "2",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, template):
    patch = pytest.MonkeyPatch()
    for key, value in ENV.items():
        patch.setenv(key, value)
    with moto_s3_server() as moto:
        boto3.client("s3", endpoint_url=moto).create_bucket(Bucket=BUCKET)
        proxy = CuttableProxy(int(moto.rsplit(":", 1)[1]))
        settings = template(
            "bike_first_half_year",
            tmp_path_factory.mktemp("durable-log"),
            predictions_uri=f"s3://{BUCKET}/predictions",
            s3_endpoint_url=proxy.url,
            serve_log_flush_seconds=2.0,  # a kill finds the last two seconds' records in the spool only
            serve_rate_limit_per_minute=10_000_000,
        )
        spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
        try:
            records = month_records(spec, open_warehouse(settings), "2011-06")
            yield {"settings": settings, "proxy": proxy, "records": records}
        finally:
            proxy.close()
    patch.undo()


class _Service:
    """`flywheel serve` in its own session (killable as a group), on a fixed port across restarts."""

    def __init__(self, settings, port: int):
        environment = {**os.environ, **settings_env(settings), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        log = open(Path(settings.home) / "serve.log", "ab")  # noqa: SIM115 - the server outlives this call
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [str(BIN / "flywheel"), "serve", MODEL, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while not self._ready():
            assert self.process.poll() is None and time.monotonic() < deadline, "flywheel serve did not start"
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def ready(self) -> dict:
        return httpx.get(f"{self.url}/ready", timeout=10).json()

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        self.process.terminate()  # a clean stop ships what it can
        self.process.wait(timeout=60)


def _burst(
    url: str, records: list[dict], tag: str, seconds: float, answered: set[str], clients: int = 8
) -> Counter[int]:
    """``clients`` threads, each alternating single records and batches of 20 (distinct entity ids), for
    ``seconds`` or until the service stops answering; every entity id answered with 200 goes into ``answered``.
    Returns the count of each status code."""
    stop = time.monotonic() + seconds
    statuses: Counter[int] = Counter()

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            i = 0
            while time.monotonic() < stop:
                size = 1 if i % 2 else 20
                batch = [{**records[(i + j) % len(records)], "entity_id": f"{tag}-{k}-{i}-{j}"} for j in range(size)]
                try:
                    response = http.post("/predict", json={"records": batch})
                except httpx.HTTPError:  # the service is gone
                    return
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    answered.update(p["entity_id"] for p in response.json()["predictions"])
                i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _drained(service: _Service, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while service.ready()["log_pending"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert service.ready()["log_pending"] == 0, service.ready()


def _logged_once(settings, answered: set[str], tag: str) -> int:
    """Load the store's log files; every answered entity id must be in the warehouse exactly once."""
    warehouse = open_warehouse(settings)
    store = open_store(settings.predictions_uri, settings.s3_endpoint_url)
    predictions.load_prediction_files(MODEL, store, warehouse)
    assert predictions.load_prediction_files(MODEL, store, warehouse) == 0  # a second load adds nothing
    rows = warehouse.query_df(
        f"select entity_id, count(*) as n from {predictions.PREDICTION_LOG} where model = ? and entity_id like ? "
        "group by entity_id",
        (MODEL, f"{tag}-%"),
    )
    counts = dict(zip(rows.entity_id, rows.n, strict=True))
    missing = answered - set(counts)
    assert not missing, f"{len(missing)} answered records are not in the log, e.g. {sorted(missing)[:5]}"
    assert {counts[e] for e in answered} == {1}
    return len(answered)


def test_a_service_killed_mid_burst_loses_no_answered_record(stack):
    settings, port = stack["settings"], free_port()
    service, answered = _Service(settings, port), set()
    burst = threading.Thread(target=_burst, args=(service.url, stack["records"], "kill", 30, answered))
    burst.start()
    deadline = time.monotonic() + 30
    while len(answered) < 2_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    service.kill()  # SIGKILL: no shutdown hook runs
    burst.join()
    spool = Path(settings.home) / "spool" / MODEL
    left = sum(path.read_bytes().count(b"\n") for path in spool.glob("*.jsonl"))
    assert left > 0, "the kill found nothing in the spool: the test did not test the spool"

    restarted = _Service(settings, port)  # ships what the killed process left
    try:
        _drained(restarted)
    finally:
        restarted.stop()
    assert not list(spool.glob("*.jsonl"))
    total = _logged_once(settings, answered, "kill")
    print(
        f"\nSIGKILL mid-burst: {total:,} records answered with 200, {left:,} records (answered or in flight) only "
        "in the spool at the kill"
    )


def test_a_store_down_for_a_whole_burst_keeps_memory_flat_and_ships_everything_after(stack):
    settings, proxy = stack["settings"], stack["proxy"]
    service, answered = _Service(settings, free_port()), set()
    try:
        _burst(service.url, stack["records"], "warm", 5, set())  # warm-up: threads, allocator, first files
        _drained(service)
        before = service.rss_kib()
        proxy.cut()
        _burst(service.url, stack["records"], "outage", 10, answered)
        during = service.rss_kib()
        spool = Path(settings.home) / "spool" / MODEL
        waiting = sum(path.read_bytes().count(b"\n") for path in spool.glob("*.jsonl"))
        ready = service.ready()
        assert ready["log_pending"] == waiting == len(answered) and ready["spool_bytes"] > 0, ready
        assert during <= before * 1.10, f"resident memory grew {during / before - 1:.1%} while the store was down"
        proxy.restore()
        _drained(service)
    finally:
        proxy.restore()
        service.stop()
    total = _logged_once(settings, answered, "outage")
    print(f"\nstore down for 10 s: {total:,} records answered, resident memory {before:,} -> {during:,} KiB")


SOAK_SECONDS = float(os.environ.get("FLYWHEEL_SOAK_SECONDS", "20"))  # make bench: 300


def test_a_soak_at_32_connections_keeps_memory_and_files_flat_and_logs_every_answer_once(stack):
    """32 connections of mixed single records and batches for SOAK_SECONDS after a warm-up: no 5xx but designed
    503 shedding, resident memory within 10 % and open files flat after the warm-up, every answer logged once."""
    settings = stack["settings"]
    service, answered = _Service(settings, free_port()), set()
    try:
        warm = _burst(service.url, stack["records"], "soakwarm", 5, set(), clients=32)
        _drained(service)
        rss, files = service.rss_kib(), service.open_files()
        statuses = _burst(service.url, stack["records"], "soak", SOAK_SECONDS, answered, clients=32)
        _drained(service, timeout=max(60, SOAK_SECONDS / 2))
        rss_after, files_after = service.rss_kib(), service.open_files()
    finally:
        service.stop()
    errors = {code: n for code, n in (warm + statuses).items() if code >= 500 and code != 503}
    assert not errors, errors
    assert rss_after <= rss * 1.10, f"resident memory grew {rss_after / rss - 1:.1%} ({rss:,} -> {rss_after:,} KiB)"
    assert files_after <= files + 2, (files, files_after)  # a log segment or a connection may be open at the time
    total = _logged_once(settings, answered, "soak")
    print(
        f"\nsoak, 32 connections, {SOAK_SECONDS:.0f} s: {dict(statuses)}; {total:,} records logged once; "
        f"resident memory {rss:,} -> {rss_after:,} KiB; open files {files} -> {files_after}"
    )
