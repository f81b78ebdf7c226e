"""The prediction service's Prometheus metrics (``GET /metrics``): one registry per service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.requests = Counter(
            "flywheel_http_requests", "HTTP requests by path and status", ["path", "status"], registry=self.registry
        )
        self.shadow_skipped = Counter(
            "flywheel_shadow_skipped",
            "Records the shadow model did not score because its queue was full (a slow or hung shadow model)",
            ["model"],
            registry=self.registry,
        )
        self.model_threads = Gauge(
            "flywheel_model_threads",
            "Threads one model call uses, per OpenMP/BLAS library (serving.threads; 1 unless serve_model_threads)",
            ["library"],
            registry=self.registry,
        )
