"""The prediction service's Prometheus metrics (``GET /metrics``): one registry per service.

With several worker processes (``flywheel serve --workers N``) every worker counts into files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, chosen when the library is imported) and a
scrape, answered by any worker, sums them: the figures are the service's, not one worker's.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["model", "version", "arm"]
        self.predictions = Counter("flywheel_predictions", "Records scored", labels, registry=self.registry)
        self.errors = Counter(
            "flywheel_prediction_errors", "Records a model failed to score", labels, registry=self.registry
        )
        self.latency = Histogram(
            "flywheel_model_latency_seconds",
            "Model time per request and arm",
            labels,
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        # CPU the model calls took (the calling thread's: one OpenMP thread per call, serving.threads); over
        # flywheel_predictions it is the model's CPU seconds per prediction (``cpu_seconds_per_1000``).
        self.model_cpu = Counter(
            "flywheel_model_cpu_seconds", "CPU seconds of the model calls per arm", labels, registry=self.registry
        )
        self.requests = Counter(
            "flywheel_http_requests", "HTTP requests by path and status", ["path", "status"], registry=self.registry
        )
        self.shadow_skipped = Counter(
            "flywheel_shadow_skipped",
            "Records the shadow model did not score because its queue was full (a slow or hung shadow model)",
            ["model"],
            registry=self.registry,
        )
        self.shed = Counter(
            "flywheel_requests_shed",
            "Requests refused with 503 because serve_max_pending_requests were being scored (load shedding)",
            ["model"],
            registry=self.registry,
        )
        self.model_threads = Gauge(
            "flywheel_model_threads",
            "Threads one model call uses, per OpenMP/BLAS library (serving.threads; 1 unless serve_model_threads)",
            ["library"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.log_pending = Gauge(
            "flywheel_prediction_log_pending",
            "Answered and shadow records not yet in a prediction log file (the canary and monitor read the files)",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

        self.spool_bytes = Gauge(
            "flywheel_prediction_spool_bytes",
            "Bytes of prediction log waiting on local disk for the store (serve_spool_max_bytes bounds it)",
            registry=self.registry,
            multiprocess_mode="max",  # every worker sees the same spool folder
        )
        self.worker = Gauge(
            "flywheel_serving_worker",
            "1 per live worker process of the service (labelled by pid when there are several)",
            registry=self.registry,
            multiprocess_mode="liveall",
        )

    def worker_started(self) -> None:
        self.worker.set(1)

    def worker_stopped(self) -> None:
        """A worker that stops cleanly leaves the live figures (a SIGKILLed one stays listed until a restart)."""
        if multiprocess():
            from prometheus_client import multiprocess as prometheus_multiprocess

            prometheus_multiprocess.mark_process_dead(os.getpid())

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's registry, or every worker's when there are several."""
        return generate_latest(self._service_registry())

    def log_pending_total(self) -> int:
        """``log_pending`` of the whole service (every worker's when there are several)."""
        for family in self._service_registry().collect():
            if family.name == "flywheel_prediction_log_pending":
                return int(sum(sample.value for sample in family.samples))
        return 0

    def cpu_seconds_per_1000(self) -> float | None:
        """The model calls' CPU seconds per 1,000 records scored, over the service's life (every worker's); None
        before the first record."""
        totals = {"flywheel_predictions": 0.0, "flywheel_model_cpu_seconds": 0.0}
        for family in self._service_registry().collect():
            if family.name in totals:
                totals[family.name] = sum(s.value for s in family.samples if s.name.endswith("_total"))
        scored = totals["flywheel_predictions"]
        return round(1000 * totals["flywheel_model_cpu_seconds"] / scored, 6) if scored else None

    def _service_registry(self) -> CollectorRegistry:
        if not multiprocess():
            return self.registry
        from prometheus_client import multiprocess as prometheus_multiprocess

        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return registry
