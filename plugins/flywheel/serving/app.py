"""The prediction service: FastAPI, champion/challenger routing, prediction log, Prometheus metrics.

Run it with ``flywheel serve <model>``. No ``from __future__ import annotations`` here: FastAPI reads the
request model (generated from the spec at start-up) from the endpoint's real annotations.
"""

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST

from flywheel.core.tasks import task_of
from flywheel.serving.guards import LoadShedder, install_guards, json_response
from flywheel.serving.metrics import Metrics
from flywheel.serving.models import LoadedModel, ModelPool, Routing
from flywheel.serving.prediction_log import PredictionLogWriter
from flywheel.serving.routing import CHAMPION_ARM, SHADOW_ARM, arm_for
from flywheel.serving.schema import Prediction, PredictResponse, answer_fields, request_model
from flywheel.serving.shadow import ShadowScorer, ShadowWork
from flywheel.serving.threads import model_threads
from flywheel.settings import Settings
from flywheel.specs import ModelSpec
from flywheel.storage import open_store

log = logging.getLogger(__name__)


class Predictor:
    """Scores a request's records, each with the arm its entity id routes to."""

    def __init__(
        self,
        spec: ModelSpec,
        pool: ModelPool,
        writer: PredictionLogWriter | None,
        metrics: Metrics,
        source: str = "api",
        shadow_queue_requests: int = 1000,
        shadow_batch_seconds: float = 0.5,
    ):
        self.spec, self.pool, self.writer, self.metrics, self.source = spec, pool, writer, metrics, source
        self.task = task_of(spec)
        self.log_rows: list[dict[str, Any]] = []  # without a writer (batch scoring) the caller collects them
        self.shadow = ShadowScorer(
            self._score_records,
            self._shadow_rows,
            self._emit,
            on_skipped=lambda n: metrics.shadow_skipped.labels(spec.name).inc(n),
            on_pending=metrics.log_pending.inc,
            synchronous=writer is None,  # batch scoring: no answer waits, score in line
            queue_requests=shadow_queue_requests,
            batch_seconds=shadow_batch_seconds,
        )

    def _score_records(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> tuple[list[float], list[Any]]:
        return loaded.score(self.task, records, self.spec.features.all)

    def _shadow_rows(
        self,
        loaded: LoadedModel,
        records: list[dict[str, Any]],
        scores: list[Any],
        decisions: list[Any],
        latency_ms: float,
        status: str,
        request_id: str,
    ) -> list[dict[str, Any]]:
        return self._log_rows(records, loaded, SHADOW_ARM, scores, decisions, latency_ms, status, request_id)

    def _emit(self, rows: list[dict[str, Any]]) -> None:
        if self.writer:
            self.writer.log(rows)
        else:
            self.log_rows += rows

    def predict(self, records: list[dict[str, Any]], request_id: str) -> list[Prediction]:
        routing = self.pool.routing  # one snapshot for the whole request
        if routing.champion is None:
            raise HTTPException(503, "no @champion is loaded yet; see /ready")
        by_arm: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            by_arm.setdefault(arm_for(self.spec.name, record["entity_id"], routing.challenger_share), []).append(i)
        answers: list[Prediction | None] = [None] * len(records)
        log_rows: list[dict[str, Any]] = []
        for arm, indices in sorted(by_arm.items()):
            self._score_arm(routing, arm, [records[i] for i in indices], indices, answers, log_rows, request_id)
        self._emit(log_rows)
        if routing.shadow is not None:  # after the answer is ready: a queue put, never a wait
            self.shadow.submit(ShadowWork(routing.shadow, records, request_id))
        return [a for a in answers if a is not None]

    def _score_arm(
        self,
        routing: Routing,
        arm: str,
        records: list[dict[str, Any]],
        indices: list[int],
        answers: list[Prediction | None],
        log_rows: list[dict[str, Any]],
        request_id: str,
    ) -> None:
        loaded, alias = routing.model_for(arm)
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            scores, decisions = self._score_records(loaded, records)
        except Exception:
            self.metrics.errors.labels(loaded.name, loaded.version, alias).inc(len(records))
            log_rows += self._log_rows(
                records, loaded, alias, [None] * len(records), [None] * len(records), 0.0, "error", request_id
            )
            if alias == CHAMPION_ARM or routing.champion is None:
                raise
            # The challenger failed: the champion answers, and the error counts against the challenger's canary.
            log.exception(
                "%s v%s failed on %d records; the champion answers", loaded.name, loaded.version, len(records)
            )
            loaded, alias = routing.champion, CHAMPION_ARM
            started, cpu_started = time.perf_counter(), time.thread_time()
            scores, decisions = self._score_records(loaded, records)
        seconds = time.perf_counter() - started
        self.metrics.latency.labels(loaded.name, loaded.version, alias).observe(seconds)
        self.metrics.predictions.labels(loaded.name, loaded.version, alias).inc(len(records))
        self.metrics.model_cpu.labels(loaded.name, loaded.version, alias).inc(time.thread_time() - cpu_started)
        log_rows += self._log_rows(records, loaded, alias, scores, decisions, seconds * 1000, "ok", request_id)
        for i, record, score, decision in zip(indices, records, scores, decisions, strict=True):
            answers[i] = Prediction(
                entity_id=record["entity_id"],
                **answer_fields(score, decision, self.task.classes),
                model=loaded.name,
                version=loaded.version,
                alias=alias,
            )

    def _log_rows(
        self,
        records: list[dict[str, Any]],
        loaded: LoadedModel,
        alias: str,
        scores: list[Any],
        decisions: list[Any],
        latency_ms: float,
        status: str,
        request_id: str,
    ) -> list[dict[str, Any]]:
        import json

        now = datetime.now(UTC).replace(tzinfo=None)
        features = self.spec.features.all
        return [
            {
                "request_id": request_id,
                "entity_id": r["entity_id"],
                "model": loaded.name,
                "version": loaded.version,
                "arm": alias,
                "score": s[d] if isinstance(s, list) else s,  # multiclass: the decided class's probability
                "decision": d,
                "latency_ms": latency_ms,
                "status": status,
                "source": self.source,
                "predicted_at": now,
                "features": json.dumps({f: r.get(f) for f in features}),
                "class_scores": json.dumps(s) if isinstance(s, list) else None,
            }
            for r, s, d in zip(records, scores, decisions, strict=True)
        ]


def _admit(writer: PredictionLogWriter, shedder: LoadShedder, metrics: Metrics, model: str) -> None:
    """503 before any work: when the log's spool is full (nothing is answered that cannot be logged), or when
    ``serve_max_pending_requests`` are being scored (load shedding, counted)."""
    if writer.full:
        raise HTTPException(503, f"the prediction log's spool is full ({writer.folder}); the store is behind")
    if not shedder.admit():
        metrics.shed.labels(model).inc()
        raise HTTPException(
            503, f"overloaded: {shedder.max_pending} requests are being scored; retry", {"Retry-After": "1"}
        )


async def _scored(
    predictor: Predictor, records: list[dict[str, Any]], request_id: str, shedder: LoadShedder, timeout: float
) -> list[Prediction]:
    """The request's records scored in the thread pool within ``timeout`` (else 504). Its admitted place is given
    back exactly once: by the work when it ends (even after its answer timed out: it held a thread until then), or
    here when it timed out still waiting for a thread (then it never runs)."""
    claimed = threading.Lock()  # whoever takes it first gives the place back

    def score() -> list[Prediction]:
        if not claimed.acquire(blocking=False):  # given up before a thread took it: do not score it
            return []
        try:
            return predictor.predict(records, request_id)
        finally:
            shedder.done()

    try:
        return await asyncio.wait_for(run_in_threadpool(score), timeout=timeout)
    except TimeoutError as exc:
        raise HTTPException(504, f"scoring took over {timeout} s") from exc
    finally:
        if claimed.acquire(blocking=False):
            shedder.done()


def create_app(
    spec: ModelSpec, settings: Settings, pool: ModelPool | None = None, writer: PredictionLogWriter | None = None
) -> FastAPI:
    pool = pool or ModelPool(spec.name, settings)
    writer = writer or PredictionLogWriter(
        open_store(settings.predictions_uri, settings.s3_endpoint_url),
        spec.name,
        settings.serve_log_flush_seconds,
        spool_dir=settings.spool_dir,
        max_bytes=settings.serve_spool_max_bytes,
    )
    metrics = Metrics()
    writer.on_pending = metrics.log_pending.inc
    predictor = Predictor(
        spec,
        pool,
        writer,
        metrics,
        shadow_queue_requests=settings.serve_shadow_queue_requests,
        shadow_batch_seconds=settings.serve_shadow_batch_seconds,
    )
    RequestModel = request_model(spec)
    shedder = LoadShedder(settings.serve_max_pending_requests)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(pool.start)
        # Read from a pool thread: what a model call sees (OpenMP's limit is per thread).
        for library, threads in (await run_in_threadpool(model_threads)).items():
            metrics.model_threads.labels(library).set(threads)
        writer.start()
        metrics.worker_started()
        yield
        pool.stop()
        writer.stop()
        metrics.worker_stopped()

    app = FastAPI(title=f"Flywheel prediction service: {spec.name}", lifespan=lifespan, description=spec.description)
    app.state.shedder = shedder
    install_guards(app, settings, metrics)

    @app.post("/predict", response_model=PredictResponse, responses={401: {}, 413: {}, 429: {}, 503: {}, 504: {}})
    # RequestModel is built at run time from the spec: mypy cannot use a variable as a type (nor see its fields).
    async def predict(payload: RequestModel) -> PredictResponse:  # type: ignore[valid-type]
        request_id = uuid.uuid4().hex
        records = [r.model_dump() for r in payload.records]  # type: ignore[attr-defined]
        _admit(writer, shedder, metrics, spec.name)

        predictions = await _scored(predictor, records, request_id, shedder, settings.serve_timeout_seconds)
        return PredictResponse(request_id=request_id, predictions=predictions)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/ready", responses={503: {}})
    def ready() -> Response:
        routing = pool.routing
        body = {
            "model": spec.name,
            **routing.versions(),
            "registry_error": pool.last_refresh_error,
            # Answered and shadow records not yet in a prediction log file (the canary and monitor read the files),
            # in every worker of the service.
            "log_pending": metrics.log_pending_total(),
            "cpu_seconds_per_1000_predictions": metrics.cpu_seconds_per_1000(),
            "spool_bytes": writer.spooled,
            "spool_max_bytes": writer.max_bytes,
        }
        # Not ready with 80 % of the spool used: the balancer sends elsewhere before the log would refuse answers.
        ready = routing.champion is not None and writer.spooled < 0.8 * writer.max_bytes
        return json_response(200 if ready else 503, body)

    @app.get("/metrics")
    def prometheus() -> Response:
        metrics.spool_bytes.set(writer.spooled)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app
