"""Test-only: a deliberately bad challenger, to show that the canary rolls back what the gate would have stopped.

It is trained on shuffled labels and forced past the gate, which the product never does (only the gate blesses);
it lives with the tests, outside the library and the replay. Both facts are written on the MLflow run
(``flywheel.demo_forced``), on the version's blessing and in the ledger, so it can never pass for a real model.
"""

from __future__ import annotations

import logging

import numpy as np

from flywheel.core.tasks import task_of
from flywheel.data.warehouse import open_warehouse
from flywheel.registry import gate, ledger, register, tracking
from flywheel.registry.lineage import lineage_tags
from flywheel.settings import Settings, get_settings
from flywheel.specs import load_spec

log = logging.getLogger(__name__)

FORCED_TAG = "flywheel.demo_forced"


def register_shuffled_label_challenger(name: str, settings: Settings | None = None) -> str:
    """Fit the spec's pipeline on shuffled labels, register it, force its blessing; returns the version."""
    import mlflow
    from mlflow.models import infer_signature

    from flywheel.training.dataset import load_snapshot, time_split
    from flywheel.training.estimators import build_pipeline

    settings = settings or get_settings()
    path = settings.models_dir / f"{name}.yaml"
    spec = load_spec(path)
    snapshot = load_snapshot(spec, open_warehouse(settings))
    split = time_split(snapshot, spec)
    task = task_of(spec)
    X = split.train[spec.features.all]
    shuffled = np.random.default_rng(0).permutation(split.train[spec.source.target_column].to_numpy())
    model = build_pipeline(spec).fit(X, shuffled)
    client = tracking.client(settings)
    experiment_id = tracking.ensure_experiment(client, name, settings)
    tags = {**lineage_tags(spec, path, snapshot, settings), FORCED_TAG: "shuffled labels, forced past the gate"}
    tags["flywheel.training_key"] = "demo-forced-" + tags["flywheel.training_key"]  # never reused as a real run
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{name} (demo: shuffled labels)") as run:
        mlflow.set_tags(tags)
        example = X.head(5)
        info = mlflow.sklearn.log_model(
            model,
            name=tracking.MODEL_ARTIFACT,
            input_example=example,
            signature=infer_signature(example, task.score(model, example)),
            pyfunc_predict_fn=task.pyfunc_predict_fn,
            skops_trusted_types=tracking.trusted_types(model),
        )
        mlflow.set_tag("flywheel.model_uri", info.model_uri)
    version = register.register_run(client, name, run.info.run_id, settings)
    client.set_model_version_tag(name, version, gate.BLESSED_TAG, "true")
    client.set_model_version_tag(name, version, FORCED_TAG, tags[FORCED_TAG])
    ledger.record(
        open_warehouse(settings),
        ledger.LedgerEntry(
            name, version, "blessed", "demo", "FORCED past the gate for the demo: trained on shuffled labels", tags
        ),
    )
    log.warning("%s v%s: demo challenger trained on shuffled labels, forced past the gate", name, version)
    return version
