"""Scenarios 4 and 5: the object store (a moto S3 server behind a proxy that can cut it) failing at exact points,
artifacts vanishing after registration, and the MLflow server dying while the prediction service answers.

The stack is the production one on loopback: an MLflow server (SQLite store) proxying artifacts to S3, reports
on S3, `flywheel serve` as its own process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from datetime import datetime

import boto3
import httpx
import pytest

from flywheel.data import predictions
from flywheel.data.warehouse import open_warehouse
from flywheel.jobs import monitor as monitor_job
from flywheel.jobs import train as train_job
from flywheel.monitoring import history
from flywheel.registry import artifacts, promote, register, tracking
from flywheel.specs import load_spec
from flywheel.workspace import Workspace
from flywheel_replay.traffic import month_records
from tests.helpers import (
    CuttableProxy,
    build_loop_until,
    flywheel_serve,
    free_port,
    moto_s3_server,
    train_first_champion,
)
from tests.reliability.helpers import BIN, registry_state

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

NAME = "bike_demand"  # a small copy of the spec under the real name, so monitoring/bike_demand.yaml applies
BUCKET = "flywheel"
JULY = (datetime(2011, 7, 1), datetime(2011, 8, 1))
ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",  # pragma: allowlist secret
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "2",  # fail within seconds, not minutes, once the store is gone
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def _start_mlflow(home, port: int, s3_url: str) -> subprocess.Popen:
    log = open(home / "mlflow-server.log", "ab")  # noqa: SIM115 - the server outlives this function
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--backend-store-uri=sqlite:///{home / 'mlflow-server.db'}",  # not the home's own mlflow.db
            f"--artifacts-destination=s3://{BUCKET}/mlartifacts",
            "--serve-artifacts",
            "--workers=1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **ENV, "MLFLOW_S3_ENDPOINT_URL": s3_url},
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError(f"the MLflow server did not start: {(home / 'mlflow-server.log').read_text()[-3000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, template):
    patch = pytest.MonkeyPatch()
    for key, value in ENV.items():
        patch.setenv(key, value)
    home = tmp_path_factory.mktemp("outages")
    with moto_s3_server() as moto:
        boto3.client("s3", endpoint_url=moto).create_bucket(Bucket=BUCKET)
        proxy = CuttableProxy(int(moto.rsplit(":", 1)[1]))
        port = free_port()
        server = _start_mlflow(home, port, proxy.url)
        # The template's data (2011-01 .. 2011-06 built) and small spec; its registry is not used: this stack's
        # registry is the MLflow server.
        settings = template(
            "bike_first_half_year",
            home,
            mlflow_tracking_uri=f"http://127.0.0.1:{port}",
            reports_uri=f"s3://{BUCKET}/reports",
            s3_endpoint_url=proxy.url,
            serve_refresh_seconds=1.0,
        )
        stack = {"settings": settings, "proxy": proxy, "moto": moto, "port": port, "server": server}
        try:
            yield stack
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(stack["server"].pid, signal.SIGKILL)
            stack["server"].wait(timeout=30)
            proxy.close()
    patch.undo()


def _objects(stack, prefix: str) -> list[str]:
    listing = boto3.client("s3", endpoint_url=stack["moto"]).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def test_s3_lost_during_the_model_upload_fails_the_training_cleanly_and_the_retry_succeeds(stack):
    settings, proxy = stack["settings"], stack["proxy"]
    client = tracking.client(settings)
    proxy.cut_when(rb"PUT /flywheel/mlartifacts/\S*/models/")  # the first file of the logged model
    with pytest.raises(Exception) as failure:
        train_job.train(Workspace(settings), NAME)
    assert proxy.cut_requests, "the upload never reached the store"
    print(f"\ntraining with S3 cut at {proxy.cut_requests[0][:120]!r}: {type(failure.value).__name__}")
    state = registry_state(client, NAME)
    assert list(state["runs"].values()) == ["FAILED"], state  # not left RUNNING, not FINISHED
    assert state["versions"] == {}

    proxy.restore()
    version = train_first_champion(settings, NAME)
    state = registry_state(client, NAME)
    assert list(state["versions"]) == [version] and sorted(state["runs"].values()) == ["FAILED", "FINISHED"]
    artifacts.verify(client, NAME, version)


def test_s3_lost_while_the_report_is_written_fails_the_monitor_cleanly_and_the_retry_succeeds(stack):
    settings, proxy = stack["settings"], stack["proxy"]
    warehouse = open_warehouse(settings)
    build_loop_until(settings, "2011-07", "2011-07", mart="ml_bike_demand_features")
    predictions.publish_labels(load_spec(settings.models_dir / f"{NAME}.yaml"), warehouse, datetime(2011, 7, 31, 23))
    proxy.cut_when(rb"PUT /flywheel/reports/")
    with pytest.raises(Exception):  # noqa: B017 - whatever boto raises; the point is what is left behind
        monitor_job.run_monitor(Workspace(settings), NAME, JULY)
    assert proxy.cut_requests[-1].startswith(b"PUT /flywheel/reports/")
    assert history.decision_for(warehouse, NAME, monitor_job.LIVE, JULY[1]) is None  # nothing half-recorded

    proxy.restore()
    result = monitor_job.run_monitor(Workspace(settings), NAME, JULY)
    assert result.already_judged is False
    again = monitor_job.run_monitor(Workspace(settings), NAME, JULY)
    assert again.already_judged is True
    written = _objects(stack, "reports/")
    assert {n.rsplit("/", 1)[1] for n in written} >= {"report.html", "evidently.json", "verdict.json"}, written
    decisions = warehouse.fetch_all("select count(*) from ops.monitor_decisions where model = ?", (NAME,))
    assert decisions[0][0] == 1


def test_a_version_whose_files_vanished_cannot_be_promoted_nor_served(stack):
    settings = stack["settings"]
    client = tracking.client(settings)
    version = train_job.register_model(
        Workspace(settings), NAME, train_job.train(Workspace(settings), NAME)
    )  # July is new data
    assert version == "2"
    client.set_model_version_tag(NAME, version, "flywheel.blessed", "true")
    files = [k for k in _objects(stack, "mlartifacts/") if "/models/" in k and k.endswith("/model.skops")]
    source = client.get_model_version(NAME, version).source  # models:/m-<id>
    (victim,) = [k for k in files if source.removeprefix("models:/") in k]
    boto3.client("s3", endpoint_url=stack["moto"]).delete_object(Bucket=BUCKET, Key=victim)

    with pytest.raises(promote.PromotionError, match=r"missing file model\.skops"):
        promote.promote(NAME, version, "test", "vanished files", client, open_warehouse(settings), settings)
    with pytest.raises(artifacts.ArtifactError, match=r"missing file model\.skops"):
        artifacts.load_verified_model(client, NAME, version)
    assert register.alias_version(client, NAME, register.CHAMPION) == "1"


def test_the_prediction_service_keeps_answering_while_mlflow_is_down(stack):
    settings = stack["settings"]
    spec = load_spec(settings.models_dir / f"{NAME}.yaml")
    records = month_records(spec, open_warehouse(settings), "2011-07")[:300]
    with flywheel_serve(settings, NAME) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/ready").json()["champion"] == "1"
        os.killpg(stack["server"].pid, signal.SIGKILL)  # the registry is gone
        stack["server"].wait(timeout=30)
        time.sleep(3 * settings.serve_refresh_seconds)  # a few refreshes fail meanwhile
        answers = [http.post("/predict", json={"records": [r]}) for r in records]
        assert [a.status_code for a in answers] == [200] * len(records)
        assert {a.json()["predictions"][0]["version"] for a in answers} == {"1"}
        ready = http.get("/ready")
        assert ready.status_code == 200 and ready.json()["registry_error"], ready.json()
        print(
            f"\nMLflow down: {len(answers)} requests answered 200 by v1; /ready says {ready.json()['registry_error']}"
        )
    stack["server"] = _start_mlflow(settings.home, stack["port"], stack["proxy"].url)  # for the fixture's stop
