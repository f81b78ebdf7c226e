"""The prediction service, served by uvicorn on loopback from a real MLflow registry: routing share and
stickiness, no failed request while aliases move, 401 / 413 / 422 / 429, and an OpenAPI fuzz that finds no 5xx."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time

import httpx
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from flywheel.data.warehouse import open_warehouse
from flywheel.registry import canary_state, register, tracking
from flywheel.serving.app import create_app
from flywheel.serving.models import ModelPool
from flywheel.serving.prediction_log import PredictionLogWriter
from flywheel.specs import load_spec
from flywheel.storage import open_store
from flywheel_replay.traffic import month_records
from tests.factories import register_shuffled_label_challenger
from tests.helpers import flywheel_serve

pytestmark = pytest.mark.integration

MODEL = "hotel_cancellation"
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory, template):
    settings = template(  # v1 from the small spec: routing needs two versions, not the best model
        "hotel_first_year",
        tmp_path_factory.mktemp("serving"),
        serve_refresh_seconds=1.0,  # the alias test still sees dozens of swaps; faster costs the server CPU
        serve_token=TOKEN,
        serve_max_body_bytes=300_000,
        serve_rate_limit_per_minute=1_000_000,
    )
    v1 = "1"
    v2 = register_shuffled_label_challenger(MODEL, settings)  # any second version will do for routing
    client = tracking.client(settings)
    canary_state.write(
        client,
        MODEL,
        v2,
        status="running",
        step=0,
        share=0.10,
        started_at=canary_state.now_iso(),
        step_started_at=canary_state.now_iso(),
        champion=v1,
    )
    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    records = month_records(spec, open_warehouse(settings), "2016-06")
    with flywheel_serve(settings, MODEL) as url:
        yield {"settings": settings, "spec": spec, "url": url, "records": records, "v1": v1, "v2": v2, "client": client}


def _requests(records: list[dict], count: int, per_request: int) -> list[dict]:
    """``count`` records with distinct entity ids, features taken from real bookings."""
    return [{**records[i % len(records)], "entity_id": f"booking-{i}"} for i in range(count * per_request)]


def test_ten_percent_canary_share_and_every_entity_meets_the_same_arm(service):
    """10,000 bookings (in requests of 50: the arm is chosen per record), then 500 of them again, one per request."""
    records = _requests(service["records"], 10_000, 1)
    arms: dict[str, str] = {}
    with httpx.Client(base_url=service["url"], headers=AUTH, timeout=30) as http:
        for start in range(0, len(records), 50):
            response = http.post("/predict", json={"records": records[start : start + 50]})
            assert response.status_code == 200, response.text
            for prediction in response.json()["predictions"]:
                arms[prediction["entity_id"]] = prediction["alias"]
        share = sum(a == "challenger" for a in arms.values()) / len(arms)
        assert len(arms) == 10_000 and 0.09 <= share <= 0.11, share
        for record in records[:500]:
            (prediction,) = http.post("/predict", json={"records": [record]}).json()["predictions"]
            assert prediction["alias"] == arms[record["entity_id"]]


def test_no_request_fails_while_aliases_and_the_share_move(service):
    client, v1, v2 = service["client"], service["v1"], service["v2"]
    records = _requests(service["records"], 600, 1)
    statuses, versions = [], set()
    stop = threading.Event()

    def move_aliases():
        flip = False
        while not stop.is_set():
            flip = not flip
            client.set_registered_model_alias(MODEL, register.CHAMPION, v2 if flip else v1)
            canary_state.write(client, MODEL, v2, share=0.5 if flip else 0.1)
            time.sleep(0.05)

    mover = threading.Thread(target=move_aliases)
    mover.start()
    try:
        with httpx.Client(base_url=service["url"], headers=AUTH, timeout=30) as http:
            for record in records:
                response = http.post("/predict", json={"records": [record]})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    versions.add(response.json()["predictions"][0]["version"])
    finally:
        stop.set()
        mover.join()
        client.set_registered_model_alias(MODEL, register.CHAMPION, v1)
        canary_state.write(client, MODEL, v2, share=0.1)
    assert statuses.count(200) == 600, {s: statuses.count(s) for s in set(statuses)}
    assert versions == {v1, v2}  # the moves were seen while serving


def test_bad_requests_get_the_right_status(service):
    url, record = service["url"], {**service["records"][0], "entity_id": "x"}
    http = httpx.Client(base_url=url, timeout=30)
    good = {"records": [record]}
    assert http.post("/predict", json=good).status_code == 401
    assert http.post("/predict", json=good, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http.post("/predict", json=good, headers=AUTH).status_code == 200
    big = {"records": [record] * 1000}
    assert http.post("/predict", json=big, headers=AUTH).status_code == 413

    def chunks():
        yield b'{"records": ['
        for _ in range(1000):
            yield json.dumps(record).encode() + b","
        yield b"]}"

    assert (
        http.post("/predict", content=chunks(), headers={**AUTH, "content-type": "application/json"}).status_code == 413
    )
    nan = json.dumps({"records": [{**record, "adr": float("nan")}]})
    for body in (
        nan,
        json.dumps({"records": [{**record, "lead_time": "soon"}]}),
        json.dumps({"records": [{**record, "surprise": 1}]}),
        json.dumps({"records": []}),
    ):
        response = http.post("/predict", content=body, headers={**AUTH, "content-type": "application/json"})
        assert response.status_code == 422, body
    detail = http.post("/predict", content=nan, headers={**AUTH, "content-type": "application/json"}).json()
    assert detail["detail"][0]["loc"][-1] == "adr"


def test_bursts_over_the_rate_limit_get_429(service):
    from fastapi.testclient import TestClient

    settings = service["settings"].model_copy(update={"serve_rate_limit_per_minute": 5, "serve_token": None})
    app = create_app(
        service["spec"],
        settings,
        ModelPool(MODEL, settings),
        PredictionLogWriter(open_store(settings.predictions_uri), MODEL),
    )
    with TestClient(app) as http:
        body = {"records": [{**service["records"][0], "entity_id": "x"}]}
        codes = [http.post("/predict", json=body).status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
        assert int(http.post("/predict", json=body).headers["Retry-After"]) >= 1
        # A new made-up Authorization header on every request is still the same client (its address): no fresh
        # bucket each time, and the limiter's table does not grow with the headers.
        codes = [
            http.post("/predict", json=body, headers={"Authorization": f"Bearer {secrets.token_hex(16)}"}).status_code
            for _ in range(2_000)
        ]
        assert set(codes) == {429} and len(app.state.rate_limiter) == 1


def test_fuzzing_the_openapi_schema_finds_no_server_error(service):
    from hypothesis import given

    schema = schemathesis.openapi.from_url(f"{service['url']}/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(base_url=service["url"], headers=AUTH, checks=[not_a_server_error])

        fuzz()


class _BrokenModel:
    """A shadow model that raises, or hangs (until the test releases it), on every call."""

    def __init__(self, failure: str, release: threading.Event):
        self.failure, self.release = failure, release

    def predict_proba(self, features):
        if self.failure == "raises":
            raise RuntimeError("shadow model broken")
        self.release.wait(120)  # hung: longer than any answer may take (serve_timeout_seconds)
        raise RuntimeError("released")


class _FixedRouting(ModelPool):
    """The real pool's interface with one routing snapshot and no registry watch: the shadow under test."""

    def __init__(self, name, settings, routing):
        super().__init__(name, settings)
        self._routing = routing

    def start(self) -> None:
        pass


@pytest.mark.parametrize("failure", ["raises", "hangs"])
def test_a_shadow_that_raises_or_hangs_never_changes_or_delays_an_answer(service, failure, tmp_path):
    """The same 60 single-record requests to the service without a shadow and with a broken one: every answer is
    the champion's, identical, and none waits for the shadow (a hung shadow holds 120 s, the answer's timeout is
    5 s); a raising shadow's failures are logged as its errors, a hung shadow's backlog is skipped and counted."""
    from fastapi.testclient import TestClient

    from flywheel.registry.artifacts import load_verified_model
    from flywheel.serving.models import LoadedModel, Routing

    settings = service["settings"].model_copy(update={"serve_token": None, "serve_shadow_queue_requests": 5})
    champion = LoadedModel(MODEL, "1", load_verified_model(service["client"], MODEL, "1"))
    release = threading.Event()
    shadow = LoadedModel(MODEL, service["v2"], _BrokenModel(failure, release))
    stores = [tmp_path / "plain", tmp_path / "shadowed"]
    writers = [PredictionLogWriter(open_store(str(store)), MODEL, flush_seconds=0.1) for store in stores]
    plain, shadowed = (
        create_app(service["spec"], settings, _FixedRouting(MODEL, settings, routing), writer)
        for routing, writer in zip(
            (Routing(champion, None, 0.0), Routing(champion, None, 0.0, shadow)), writers, strict=True
        )
    )
    bodies = [{"records": [r]} for r in _requests(service["records"], 60, 1)]
    try:
        with TestClient(plain) as a, TestClient(shadowed) as b:
            expected = [a.post("/predict", json=body).json()["predictions"] for body in bodies]
            answers = [b.post("/predict", json=body) for body in bodies]
            assert [r.status_code for r in answers] == [200] * 60
            assert [r.json()["predictions"] for r in answers] == expected
            assert {p["alias"] for r in answers for p in r.json()["predictions"]} == {"champion"}
            time.sleep(1.5)  # the shadow thread collects for serve_shadow_batch_seconds (0.5 s), then scores
            metrics = b.get("/metrics").text
        logged = pd.concat(pd.read_parquet(f) for f in stores[1].rglob("*.parquet"))
        by_arm = logged.groupby(["arm", "status"]).size().to_dict()
        if failure == "raises":
            assert by_arm == {("champion", "ok"): 60, ("shadow", "error"): 60}  # errors count against the shadow
        else:
            assert by_arm == {("champion", "ok"): 60}  # the hung shadow logged nothing ...
            skipped = [line for line in metrics.splitlines() if line.startswith("flywheel_shadow_skipped_total")]
            # ... and what did not fit its queue (5 requests) behind the hung batch was skipped, and counted
            assert skipped and 0 < float(skipped[0].split()[-1]) <= 55
    finally:
        release.set()


def test_past_its_bound_the_service_sheds_load_at_once_and_a_stuck_model_still_times_out(service, tmp_path):
    """Two requests held by a stuck model fill a bound of two: the next twenty are refused at once with 503 and
    Retry-After (not after the 1 s timeout), the two stuck ones end in 504 at their timeout, their work still
    counts until the model lets go, and the refusals are counted in /metrics."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from flywheel.serving.models import LoadedModel, Routing

    settings = service["settings"].model_copy(
        update={"serve_token": None, "serve_max_pending_requests": 2, "serve_timeout_seconds": 1.0}
    )
    release = threading.Event()
    stuck = LoadedModel(MODEL, "1", _BrokenModel("hangs", release))
    writer = PredictionLogWriter(open_store(str(tmp_path)), MODEL, flush_seconds=0.1)
    app = create_app(service["spec"], settings, _FixedRouting(MODEL, settings, Routing(stuck, None, 0.0)), writer)
    body = {"records": [{**service["records"][0], "entity_id": "x"}]}
    try:
        with TestClient(app) as http, ThreadPoolExecutor(2) as clients:
            held = [clients.submit(http.post, "/predict", json=body) for _ in range(2)]
            deadline = time.monotonic() + 10
            while app.state.shedder.pending < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            started = time.perf_counter()
            shed = [http.post("/predict", json=body) for _ in range(20)]
            refused_in = time.perf_counter() - started
            assert [r.status_code for r in shed] == [503] * 20 and {r.headers["Retry-After"] for r in shed} == {"1"}
            assert refused_in < 1.0, refused_in  # twenty refusals before one timeout would have passed
            assert [f.result().status_code for f in held] == [504, 504]
            assert app.state.shedder.pending == 2  # the stuck work still holds its threads
            release.set()
            while app.state.shedder.pending and time.monotonic() < deadline:
                time.sleep(0.01)
            assert app.state.shedder.pending == 0
            assert f'flywheel_requests_shed_total{{model="{MODEL}"}} 20.0' in http.get("/metrics").text
    finally:
        release.set()


def test_batch_scoring_scores_the_shadow_in_line_beside_the_champion(service):
    """score__<model>'s path (no writer, source 'batch'): every record answered by the champion, every record
    also scored by the shadow model and logged with the arm 'shadow', paired by request and entity."""
    from flywheel.registry.artifacts import load_verified_model
    from flywheel.serving.app import Predictor
    from flywheel.serving.metrics import Metrics
    from flywheel.serving.models import LoadedModel, Routing

    settings, client, v2 = service["settings"], service["client"], service["v2"]
    champion = LoadedModel(MODEL, "1", load_verified_model(client, MODEL, "1"))
    shadow = LoadedModel(MODEL, v2, load_verified_model(client, MODEL, v2))
    pool = _FixedRouting(MODEL, settings, Routing(champion, None, 0.0, shadow))
    predictor = Predictor(service["spec"], pool, writer=None, metrics=Metrics(), source="batch")
    records = _requests(service["records"], 300, 1)
    answers = predictor.predict(records, "batch-1")
    assert len(answers) == 300 and {a.alias for a in answers} == {"champion"}
    rows = pd.DataFrame(predictor.log_rows)
    assert rows.groupby(["arm", "version", "status"]).size().to_dict() == {
        ("champion", "1", "ok"): 300,
        ("shadow", v2, "ok"): 300,
    }
    shadow_rows = rows[rows.arm == "shadow"]
    assert list(shadow_rows.entity_id) == [r["entity_id"] for r in records]
    expected = shadow.model.predict_proba(pd.DataFrame(records)[service["spec"].features.all])[:, 1]
    assert shadow_rows.score.to_numpy() == pytest.approx(expected)


def test_the_compiled_model_scores_and_decides_as_the_pipeline_on_the_holdout(service):
    """The fast path (serving.compiled): the registered v1 compiled at load scores every record of the holdout's
    last month as the pipeline does, one record at a time and in chunks of 8 (the walk), in chunks of 32 and all at
    once (scikit-learn's routine tree by tree on the compiled matrix); and the service answers with those scores.
    A missing category is scored as the pipeline scores it in a batch (alone in a one-row frame the pipeline kept
    None unfilled)."""
    import numpy as np

    from flywheel.registry import artifacts
    from flywheel.serving.compiled import compile_model

    model = artifacts.load_verified_model(service["client"], MODEL, service["v1"])
    compiled = compile_model(model)
    assert compiled is not None
    records = service["records"]
    frame = pd.DataFrame(records)[service["spec"].features.all]
    expected, decided = model.predict_proba(frame)[:, 1], model.predict(frame)
    one_by_one = np.array([compiled.score([r])[0] for r in records])
    eights = np.concatenate([compiled.score(records[i : i + 8]) for i in range(0, len(records), 8)])
    chunks = np.concatenate([compiled.score(records[i : i + 32]) for i in range(0, len(records), 32)])
    at_once = compiled.score(records)
    for scores in (one_by_one, eights, chunks, at_once):
        worst = int(np.abs(scores - expected).argmax())
        assert abs(scores[worst] - expected[worst]) <= 1e-9, (
            {c: records[worst][c] for c in service["spec"].features.categorical},
            compiled.matrix([records[worst]]).tolist(),
            model.estimator.estimator[0].transform(frame.iloc[[worst]]).tolist(),
        )
    assert compiled.decisions(at_once) == [int(d) for d in decided]

    sample = [{**r, "entity_id": f"compiled-{i}"} for i, r in enumerate(records[:200])]
    with httpx.Client(base_url=service["url"], headers=AUTH, timeout=30) as http:
        answered = []
        for start in range(0, len(sample), 50):
            response = http.post("/predict", json={"records": sample[start : start + 50]})
            assert response.status_code == 200, response.text
            answered += response.json()["predictions"]
    v2 = artifacts.load_verified_model(service["client"], MODEL, service["v2"])
    expected_v2 = v2.predict_proba(frame.iloc[:200])[:, 1]
    for i, answer in enumerate(answered):
        assert abs(answer["score"] - {"1": expected, service["v2"]: expected_v2}[answer["version"]][i]) <= 1e-9
    print(f"\ncompiled v1 on {len(records)} holdout records: max difference {np.abs(at_once - expected).max():.1e}")


def test_two_worker_processes_answer_count_and_log_as_one_service(service):
    """`flywheel serve --workers 2`: one port, two live workers; 8 clients at once get every answer; /metrics (from
    whichever worker answers) counts all of them; /ready's log_pending reaches 0; and after a clean stop every
    answered record is in the prediction log exactly once."""
    import io

    from flywheel.serving import process
    from tests.helpers import settings_env

    settings = service["settings"]
    records = [{**r, "entity_id": f"workers-{i}"} for i, r in enumerate(_requests(service["records"], 400, 1))]
    port = process.free_port()
    args = [str(process.BIN / "flywheel"), "serve", MODEL, "--port", str(port), "--workers", "2"]
    statuses: list[int] = []

    def send(chunk: list[dict], url: str) -> None:
        with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
            statuses.extend(http.post("/predict", json={"records": [r]}).status_code for r in chunk)

    log_file = settings.home / "logs" / "serve-workers.log"
    with process.server_process(args, port, "/ready", log_file, settings_env(settings)) as url:
        clients = [threading.Thread(target=send, args=(records[i::8], url)) for i in range(8)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        assert statuses == [200] * 400
        exposition = httpx.get(url + "/metrics").text
        workers = re.findall(r'^flywheel_serving_worker\{pid="(\d+)"\} 1\.0$', exposition, re.MULTILINE)
        assert len(set(workers)) == 2, exposition
        predicted = re.findall(r"^flywheel_predictions_total\{[^}]*\} ([0-9.]+)$", exposition, re.MULTILINE)
        assert sum(float(v) for v in predicted) == 400, exposition
        cpu = re.findall(r"^flywheel_model_cpu_seconds_total\{[^}]*\} ([0-9.e-]+)$", exposition, re.MULTILINE)
        per_1000 = httpx.get(url + "/ready").json()["cpu_seconds_per_1000_predictions"]
        assert per_1000 == pytest.approx(1000 * sum(float(v) for v in cpu) / 400, rel=1e-3) and 0 < per_1000 < 100
        deadline = time.monotonic() + 30
        while httpx.get(url + "/ready").json()["log_pending"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert httpx.get(url + "/ready").json()["log_pending"] == 0
    store = open_store(settings.predictions_uri)
    logged = pd.concat(pd.read_parquet(io.BytesIO(store.read_bytes(name))) for name in store.list(f"{MODEL}/*/*"))
    answered = logged[logged.entity_id.str.startswith("workers-") & (logged.arm != "shadow")]
    assert sorted(answered.entity_id) == sorted(r["entity_id"] for r in records)
