"""``flywheel serve --workers N``: N processes behind one port, each a whole service.

Each worker loads its own @champion/@challenger (and follows the aliases itself), writes its own prediction-log
files (uniquely named, so the canary and monitor read them all), runs its own shadow scorer and OpenMP pool of
``serve_model_threads``. What the workers share is made whole again: Prometheus counters live in files in one
directory (``serving.metrics``), so ``/metrics`` and ``/ready``'s ``log_pending`` are the service's, whichever
worker answers. Not shared: the rate limiter's buckets (each worker allows ``serve_rate_limit_per_minute``).
One process per core: a one-row prediction is CPU work that the GIL keeps to one core per process.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

from flywheel.serving.metrics import MULTIPROCESS_DIR
from flywheel.serving.threads import pin_model_threads
from flywheel.settings import Settings, apply_environment

if TYPE_CHECKING:
    from fastapi import FastAPI

MODEL_VARIABLE = "FLYWHEEL_SERVE_MODEL"  # the parent tells its workers which model to serve


def serve(model: str, settings: Settings, host: str, port: int, workers: int) -> None:
    """Run the service in the foreground (the caller has pinned the model threads already)."""
    import uvicorn

    if workers == 1:
        from flywheel.serving.app import create_app
        from flywheel.specs import load_spec

        app = create_app(load_spec(settings.models_dir / f"{model}.yaml"), settings)
        uvicorn.run(app, host=host, port=port, log_level="info")
        return
    os.environ[MODEL_VARIABLE] = model
    # A fresh directory per start (counters of an earlier run must not be added to this one's), unless the
    # operator names one (a tmpfs volume, say), which must then be emptied before each start as Prometheus says.
    given = os.environ.get(MULTIPROCESS_DIR)
    metrics_dir = given or tempfile.mkdtemp(prefix="flywheel-metrics-")
    os.environ[MULTIPROCESS_DIR] = metrics_dir
    try:
        uvicorn.run(
            "flywheel.serving.workers:worker_app", factory=True, host=host, port=port, workers=workers, log_level="info"
        )
    finally:
        if not given:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def worker_app() -> FastAPI:
    """uvicorn's factory, called in each worker process (a fresh interpreter: it inherits only the environment)."""
    from flywheel.serving.app import create_app
    from flywheel.specs import load_spec

    settings = apply_environment()
    pin_model_threads(settings.serve_model_threads)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("flywheel").setLevel(logging.INFO)
    return create_app(load_spec(settings.models_dir / f"{os.environ[MODEL_VARIABLE]}.yaml"), settings)
