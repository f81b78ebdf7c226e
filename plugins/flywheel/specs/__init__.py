"""Typed, strict model specs: ``models/<name>.yaml`` says everything about a model.

The file stem is the model's name everywhere: the MLflow registered model, the ``train__<name>`` DAG, the ledger.
Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from flywheel.specs.canary import SHADOW, ApprovalPolicy, CanarySpec, Stage
from flywheel.specs.monitor import (
    AlertPolicySpec,
    AlertRouteSpec,
    DriftPolicySpec,
    MonitorSpec,
    QualityPolicySpec,
    RetrainPolicySpec,
)
from flywheel.specs.retrain import WARM_STARTABLE, RetrainSpec
from flywheel.specs.strict import Strict as _Strict

__all__ = [
    "SHADOW",
    "AlertPolicySpec",
    "AlertRouteSpec",
    "ApprovalPolicy",
    "CanarySpec",
    "DriftPolicySpec",
    "ModelSpec",
    "MonitorSpec",
    "QualityPolicySpec",
    "RetrainPolicySpec",
    "Stage",
    "load_monitor_spec",
    "load_spec",
]


class SourceSpec(_Strict):
    mart: str = Field(description="dbt mart the model reads, in schema 'marts'")
    id_column: str
    event_time_column: str
    target_column: str
    partition_column: str = "batch_id"


class FeatureSpec(_Strict):
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class SplitSpec(_Strict):
    """Time-aware split: the most recent ``holdout_months`` of labelled data are the holdout; the months before
    are cut into ``cv_folds`` expanding-window folds for the search.

    ``final_fit``: what the registered model is fitted on once it has been evaluated. ``train_and_holdout`` (the
    default) refits the chosen hyper-parameters (and decision threshold) on every labelled month, so the model
    that serves has seen the latest months, as a cron retrain's would; its holdout figures are those of the same
    configuration fitted without the holdout (an honest estimate), and the gate compares those scores.
    ``train``: serve the evaluated model itself."""

    holdout_months: int = Field(ge=1)
    cv_folds: int = Field(ge=2)
    train_months: int | None = Field(default=None, ge=1, description="at most this many months before holdout")
    final_fit: Literal["train_and_holdout", "train"] = "train_and_holdout"


class EstimatorSpec(_Strict):
    """A scikit-learn estimator by import path, its fixed params and a random-search space.

    ``search_strategy``: ``exhaustive`` (the default) fits every candidate with every iteration; ``halving`` judges
    every candidate on the folds at a fraction of the estimator's iterations and continues only the best
    ``1/halving_factor`` of them, in rungs, up to the spec's iterations (successive halving, as scikit-learn's
    ``HalvingRandomSearchCV``). Halving is cheaper and may choose worse: a low learning rate looks worse than a high
    one after a third of the iterations (docs/adding-a-model.md gives the replays' figures). It applies to the
    ensembles that grow by iterations (boosting, forests) with their iteration count fixed in ``params`` and no
    early stopping; others are searched exhaustively."""

    class_path: str = Field(pattern=r"^sklearn\.[\w.]+\.\w+$")
    params: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, list[Any]] = Field(default_factory=dict)
    search_iterations: int = Field(default=8, ge=1)
    search_strategy: Literal["halving", "exhaustive"] = "exhaustive"
    halving_factor: int = Field(default=3, ge=2, description="rung to rung: 1/factor of the candidates go on")
    one_hot_min_frequency: int = Field(default=20, ge=1)
    random_state: int = 0


class BaselineSpec(_Strict):
    """The simple rule the model must beat: the prior (the training labels' mean: a positive rate, or a mean
    value), or ``one_rule``: that mean per value of one feature (e.g. each deposit type's cancellation rate, each
    hour's mean rentals)."""

    kind: Literal["prior", "one_rule"]
    column: str | None = None

    @model_validator(mode="after")
    def _column_for_one_rule(self) -> BaselineSpec:
        if self.kind == "one_rule" and not self.column:
            raise ValueError("baseline kind 'one_rule' needs 'column'")
        return self


class GateSpec(_Strict):
    """Limits in the primary metric's own units, whichever way it points: for ``mae`` a drop of 5 means an error
    5 higher, for ``roc_auc`` a drop of 0.01 means an AUC 0.01 lower."""

    primary_metric: Literal[
        "roc_auc", "pr_auc", "mae", "rmse", "roc_auc_ovr", "roc_auc_ovr_weighted", "log_loss", "f1_macro"
    ] = "roc_auc"
    max_drop_vs_champion: float = Field(ge=0, description="challenger may be this much worse than @champion")
    min_lift_over_baseline: float = Field(ge=0, description="challenger must beat the baseline by this much")
    max_segment_drop: float = Field(ge=0, description="no segment worse than @champion's by more than this")
    min_segment_rows: int = Field(default=200, ge=1, description="segments smaller than this are not gated")
    max_disparity: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="binary classifiers: the largest gap allowed between a segment's false positive (or negative) "
        "rate and the best segment's of the same column; unset: measured in the model card, not gated",
    )
    max_forgetting: float | None = Field(
        default=None,
        ge=0,
        description="on the champion's own holdout, the challenger may be this much worse than the champion was",
    )


class BusinessSpec(_Strict):
    """A binary classifier's value of each decision, per row, in ``currency``: its threshold maximises the total."""

    currency: str = "EUR"
    value_true_positive: float
    cost_false_positive: float
    value_true_negative: float = 0.0
    cost_false_negative: float = 0.0
    rationale: str = ""
    cost_per_cpu_hour: float = Field(
        default=0.05, ge=0, description="what a CPU-hour costs, in currency: prices training and scoring (assumed)"
    )


class ValueMatrixSpec(_Strict):
    """A multiclass classifier's value of each decision: ``values[actual][decided]`` per row, in ``currency``. Each
    row is decided as the class with the highest expected value (sum over actual classes of probability x value);
    without this section the decision is the most probable class."""

    currency: str = "EUR"
    values: dict[str, dict[str, float]]
    rationale: str = ""
    cost_per_cpu_hour: float = Field(
        default=0.05, ge=0, description="what a CPU-hour costs, in currency: prices training and scoring (assumed)"
    )


class ServingSpec(_Strict):
    """The prediction service's input contract for this model."""

    nullable: tuple[str, ...] = Field(default=(), description="features a request may leave null")
    max_records_per_request: int = Field(default=1000, ge=1)


class ModelSpec(_Strict):
    name: str
    description: str = ""
    task: Literal["binary_classification", "multiclass_classification", "regression"]
    classes: tuple[str, ...] = Field(
        default=(), description="multiclass: the label's values; scores and the value matrix follow this order"
    )
    source: SourceSpec
    features: FeatureSpec
    segments: tuple[str, ...] = ()
    split: SplitSpec
    estimator: EstimatorSpec
    baseline: BaselineSpec
    gates: GateSpec
    business: BusinessSpec | ValueMatrixSpec | None = Field(
        default=None, description="a classifier's value of each decision (required for binary classification)"
    )
    serving: ServingSpec = ServingSpec()
    canary: CanarySpec
    retrain: RetrainSpec = RetrainSpec()

    @model_validator(mode="after")
    def _columns_consistent(self) -> ModelSpec:
        reserved = {self.source.id_column, self.source.event_time_column, self.source.target_column}
        clash = reserved & set(self.features.all)
        if clash:
            raise ValueError(f"features must not include id, event-time or target columns: {sorted(clash)}")
        duplicated = {c for c in self.features.all if self.features.all.count(c) > 1}
        if duplicated:
            raise ValueError(f"features listed twice: {sorted(duplicated)}")
        if self.baseline.column and self.baseline.column not in self.features.all:
            raise ValueError(f"baseline column {self.baseline.column!r} must be a feature")
        from flywheel.core.tasks import PRIMARY_METRICS

        if self.gates.primary_metric not in PRIMARY_METRICS[self.task]:
            raise ValueError(
                f"gates.primary_metric {self.gates.primary_metric!r} does not judge a {self.task} model; "
                f"use one of {list(PRIMARY_METRICS[self.task])}"
            )
        self._task_sections_consistent()
        estimator = self.estimator.class_path.rpartition(".")[2]
        if self.retrain.strategy == "warm_start" and estimator not in WARM_STARTABLE:
            raise ValueError(
                f"retrain.strategy warm_start continues a fitted ensemble with more iterations, which "
                f"{', '.join(WARM_STARTABLE)} can and {estimator} cannot: use strategy: full"
            )
        unknown = set(self.serving.nullable) - set(self.features.all)
        if unknown:
            raise ValueError(f"serving.nullable names columns that are not features: {sorted(unknown)}")
        return self

    def _task_sections_consistent(self) -> None:
        binary, multiclass = self.task == "binary_classification", self.task == "multiclass_classification"
        if binary and not isinstance(self.business, BusinessSpec):
            raise ValueError(
                "a binary classifier needs 'business' with value_true_positive and cost_false_positive (its "
                "decision threshold maximises the value matrix)"
            )
        if multiclass and self.business is not None and not isinstance(self.business, ValueMatrixSpec):
            raise ValueError("a multiclass classifier's 'business' is a value matrix: values[actual][decided]")
        if not (binary or multiclass) and self.business is not None:
            raise ValueError("a regressor makes no decision and must not have 'business'")
        if multiclass != bool(self.classes):
            raise ValueError(
                "'classes' lists a multiclass label's values (and only a multiclass classifier has it)"
                if multiclass
                else f"'classes' is for multiclass_classification, not {self.task}"
            )
        if multiclass and (len(self.classes) < 3 or len(set(self.classes)) != len(self.classes)):
            raise ValueError("'classes' needs three distinct values or more (two classes: task binary_classification)")
        if isinstance(self.business, ValueMatrixSpec):
            expected = set(self.classes)
            for actual, row in self.business.values.items():
                if actual not in expected or set(row) != expected:
                    raise ValueError(
                        f"business.values[{actual!r}] must be a class with one value per decided class "
                        f"{list(self.classes)}; it names {sorted(row)}"
                    )
            if set(self.business.values) != expected:
                raise ValueError(f"business.values needs a row for every actual class {list(self.classes)}")

    @property
    def columns(self) -> list[str]:
        s = self.source
        return [s.id_column, s.partition_column, s.event_time_column, *self.features.all, s.target_column]


def load_spec(path: Path) -> ModelSpec:
    """Load one spec; the ``name`` key, if present, must equal the file stem."""
    return ModelSpec.model_validate(_load_named(path))


def load_specs(models_dir: Path) -> list[ModelSpec]:
    return [load_spec(p) for p in sorted(models_dir.glob("*.yaml"))]


def spec_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_named(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text()) or {}
    name = document.setdefault("name", path.stem)
    if name != path.stem:
        raise ValueError(f"{path.name}: name {name!r} must equal the file stem {path.stem!r}")
    return document


def load_monitor_spec(path: Path, model: ModelSpec | None = None) -> MonitorSpec:
    """Load ``monitoring/<name>.yaml``; with the model's spec, ignored columns must be its features."""
    spec = MonitorSpec.model_validate(_load_named(path))
    if model is not None:
        unknown = set(spec.drift.ignore) - set(model.features.all)
        if unknown:
            raise ValueError(f"{path.name}: drift.ignore names columns that are not features: {sorted(unknown)}")
    return spec


def load_monitored(models_dir: Path, monitoring_dir: Path) -> list[tuple[ModelSpec, MonitorSpec]]:
    """Every model with a monitoring policy; a policy without its model is an error (a typo in the file name)."""
    specs = {s.name: s for s in load_specs(models_dir)}
    pairs = []
    for path in sorted(monitoring_dir.glob("*.yaml")):
        if path.stem not in specs:
            raise ValueError(f"monitoring/{path.name} has no models/{path.name}")
        pairs.append((specs[path.stem], load_monitor_spec(path, specs[path.stem])))
    return pairs
