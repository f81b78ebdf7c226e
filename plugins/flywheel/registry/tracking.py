"""MLflow runs: one finished run per (spec, data snapshot), with the model, its card, metrics and lineage."""

from __future__ import annotations

import json
import logging
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from flywheel.core.multiclass import score_rows
from flywheel.core.tasks import task_of
from flywheel.settings import Settings
from flywheel.specs import ModelSpec
from flywheel.training.cost import TrainingCost
from flywheel.training.dataset import Snapshot, TimeSplit
from flywheel.training.fit import TrainingResult
from flywheel.training.model_card import render_model_card

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
HOLDOUT_ARTIFACT = "evaluation/holdout.parquet"
# In the holdout artifact: the scores of the evaluated model (fitted without the holdout), which the gate compares;
# the registered model may have been refitted on the holdout too (spec split.final_fit).
EVALUATED_SCORE_COLUMN = "flywheel_evaluated_score"
IMPORTANCE_ARTIFACT = "evaluation/importance.json"  # permutation importance on the holdout (training.importance)
FITTED_UNTIL_PARAM = "fitted_until"  # the last month the registered model was fitted on
FITTED_FROM_PARAM = "fitted_from"
STRATEGY_TAG = "flywheel.retrain_strategy"  # full | warm_start (decisions.retrain_strategy)
WARM_STARTS_TAG = "flywheel.warm_starts"  # warm starts in a row that led to this version (0: trained in full)


def client(settings: Settings) -> Any:
    """The MLflow client for these settings (also made the process default for ``mlflow.*`` calls)."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return _client(settings.mlflow_tracking_uri)


@lru_cache(maxsize=8)
def _client(uri: str) -> Any:
    # One client per store: creating one opens (and for SQLite, checks) the database, which costs ~0.1 s.
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def ensure_experiment(mlflow_client: Any, name: str, settings: Settings) -> str:
    """The experiment named after the model; artifacts under the configured root (never ./mlruns)."""
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    root = settings.mlflow_artifacts_uri
    if not root:  # an MLflow server with its own artifact store (proxied S3 in production)
        return str(mlflow_client.create_experiment(name))
    location = f"{root.rstrip('/')}/{name}" if "://" in root else (Path(root) / name).resolve().as_uri()
    return str(mlflow_client.create_experiment(name, artifact_location=location))


def find_training_run(mlflow_client: Any, experiment_id: str, key: str) -> str | None:
    """A finished run trained from this exact spec and snapshot, if one exists."""
    runs = mlflow_client.search_runs(
        [experiment_id],
        filter_string=f"tags.`flywheel.training_key` = '{key}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def fail_unfinished_runs(mlflow_client: Any, experiment_id: str, key: str) -> None:
    """Mark runs of this training that never finished (a killed task) as FAILED, so none looks in progress."""
    runs = mlflow_client.search_runs(
        [experiment_id],
        filter_string=f"tags.`flywheel.training_key` = '{key}' and attributes.status = 'RUNNING'",
    )
    for run in runs:
        log.warning("run %s of this training never finished (killed?): marking it FAILED", run.info.run_id)
        mlflow_client.set_terminated(run.info.run_id, status="FAILED")


def trusted_types(model: Any) -> list[str]:
    """skops refuses types it does not know; trust only scikit-learn's and NumPy's own (and functools.partial,
    which scikit-learn's fitted estimators hold), fail on anything else."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    foreign = [t for t in untrusted if not t.startswith(("sklearn.", "numpy.")) and t != "functools.partial"]
    if foreign:
        raise TypeError(f"the model contains types skops would have to trust blindly: {foreign}")
    return untrusted


# What a logged model needs to load and predict: scikit-learn's estimators, serialized with skops, on NumPy, SciPy
# and pandas frames (MLflow adds itself). Stated, not inferred: MLflow's inference loads the model in a subprocess
# (5 s of a 66 s training) and picks up whatever the training process had imported (pytest, rich).
MODEL_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "scipy", "pandas")


def model_requirements() -> list[str]:
    """The pinned pip requirements of a logged model: the installed versions of ``MODEL_REQUIREMENTS``."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def _metrics(spec: ModelSpec, result: TrainingResult) -> dict[str, float]:
    metrics = {f"holdout_{k}": v for k, v in result.holdout_metrics.items() if k != "rows"}
    metrics |= {f"baseline_holdout_{k}": v for k, v in result.baseline_metrics.items() if k != "rows"}
    metrics |= {
        "cv_primary_metric": result.cv_score,
        "holdout_rows": result.holdout_metrics["rows"],
        "training_seconds": result.seconds,
        "scoring_cpu_seconds_per_1000": result.scoring_cpu_per_1000
        if result.scoring_cpu_per_1000 is not None
        else float("nan"),
    }
    if result.business and result.baseline_business:
        metrics |= {
            "holdout_value_per_1000": result.business.value_per_1000,
            "baseline_holdout_value_per_1000": result.baseline_business.value_per_1000,
        }
        if result.business.threshold is not None:  # a binary classifier's; a multiclass one has a value matrix
            metrics["decision_threshold"] = result.business.threshold
    if result.disparity is not None and result.disparity.largest_gap is not None:
        metrics["holdout_max_disparity_gap"] = result.disparity.largest_gap
    primary = spec.gates.primary_metric
    for row in result.segments.to_dict("records"):
        prefix = f"segment.{row['segment']}.{str(row['value']).replace(' ', '_')}"
        metrics[f"{prefix}.holdout_{primary}"] = row[f"model_{primary}"]
        metrics[f"{prefix}.rows"] = row["rows"]
    return {k: float(v) for k, v in metrics.items() if v == v}  # NaN (one-class segments) is left out


def log_training_run(
    spec: ModelSpec,
    snapshot: Snapshot,
    split: TimeSplit,
    result: TrainingResult,
    lineage: dict[str, str],
    experiment_id: str,
    cost: TrainingCost | None = None,
) -> str:
    """Log everything about one training and return the run id; the run is FINISHED only if all of it landed.
    ``cost``: what the training took (wall and CPU seconds, peak memory), as metrics ``training_*``."""
    import mlflow
    from mlflow.models import infer_signature

    features = spec.features.all
    task = task_of(spec)
    example = split.holdout[features].head(5)
    signature = infer_signature(example, task.score(result.model, example))
    source = spec.source
    holdout = split.holdout[[source.id_column, source.event_time_column, *features, source.target_column]].assign(
        **{EVALUATED_SCORE_COLUMN: score_rows(result.holdout_scores)}
    )
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{spec.name}@{snapshot.last_event}") as run:
        mlflow.set_tags(lineage)
        mlflow.log_params({f"model.{k}": v for k, v in result.best_params.items()})
        mlflow.log_params(
            {
                "train_months": f"{split.train_months[0]}..{split.train_months[-1]}",
                "holdout_months": ",".join(split.holdout_months),
                "estimator": spec.estimator.class_path,
                "baseline": f"{spec.baseline.kind}:{spec.baseline.column or ''}",
                "features": len(features),
                FITTED_FROM_PARAM: result.fitted_months[0],
                FITTED_UNTIL_PARAM: result.fitted_months[1],
            }
        )
        mlflow.log_metrics(_metrics(spec, result))
        if cost is not None:
            mlflow.log_metrics(
                {
                    "training_wall_seconds": cost.wall_seconds,
                    "training_cpu_seconds": cost.cpu_seconds,
                    "training_peak_memory_mb": cost.peak_memory_mb,
                }
            )
        with tempfile.TemporaryDirectory() as tmp:
            holdout_path = Path(tmp) / "holdout.parquet"
            holdout.to_parquet(holdout_path, index=False)
            mlflow.log_artifact(str(holdout_path), "evaluation")
        mlflow.log_text(result.segments.to_csv(index=False), "evaluation/segments.csv")
        if result.disparity is not None:
            mlflow.log_text(result.disparity.table.to_csv(index=False), "evaluation/disparity.csv")
        if result.importance is not None:
            mlflow.log_dict(result.importance, IMPORTANCE_ARTIFACT)
        mlflow.log_text(render_model_card(spec, snapshot, split, result, lineage, cost), "model_card.md")
        mlflow.log_text(json.dumps(spec.model_dump(mode="json"), indent=2), "spec.json")
        info = mlflow.sklearn.log_model(
            result.model,
            name=MODEL_ARTIFACT,
            signature=signature,
            input_example=example,
            pyfunc_predict_fn=task.pyfunc_predict_fn,
            skops_trusted_types=trusted_types(result.model),
            pip_requirements=model_requirements(),
        )
        mlflow.set_tag("flywheel.model_uri", info.model_uri)
        log.info("%s: logged run %s (model %s)", spec.name, run.info.run_id, info.model_uri)
        return str(run.info.run_id)
