"""Typed, strict model specs: ``models/<name>.yaml`` says everything about a model.

The file stem is the model's name everywhere: the MLflow registered model, the ``train__<name>`` DAG, the ledger.
Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from flywheel.specs.canary import SHADOW, CanarySpec, Stage
from flywheel.specs.strict import Strict as _Strict
from flywheel.specs.window import RowsWindowSpec, Window, cron_expression, with_schedule

__all__ = ["SHADOW", "CanarySpec", "ModelSpec", "MonitorSpec", "Stage", "load_monitor_spec", "load_spec"]


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
    """A scikit-learn estimator by import path, its fixed params and a random-search space."""

    class_path: str = Field(pattern=r"^sklearn\.[\w.]+\.\w+$")
    params: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, list[Any]] = Field(default_factory=dict)
    search_iterations: int = Field(default=8, ge=1)
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

    primary_metric: Literal["roc_auc", "pr_auc", "mae", "rmse"] = "roc_auc"
    max_drop_vs_champion: float = Field(ge=0, description="challenger may be this much worse than @champion")
    min_lift_over_baseline: float = Field(ge=0, description="challenger must beat the baseline by this much")
    max_segment_drop: float = Field(ge=0, description="no segment worse than @champion's by more than this")
    min_segment_rows: int = Field(default=200, ge=1, description="segments smaller than this are not gated")


class BusinessSpec(_Strict):
    """A binary classifier's value of each decision, per row, in ``currency``: its threshold maximises the total."""

    currency: str = "EUR"
    value_true_positive: float
    cost_false_positive: float
    value_true_negative: float = 0.0
    cost_false_negative: float = 0.0
    rationale: str = ""


class ServingSpec(_Strict):
    """The prediction service's input contract for this model."""

    nullable: tuple[str, ...] = Field(default=(), description="features a request may leave null")
    max_records_per_request: int = Field(default=1000, ge=1)


class ModelSpec(_Strict):
    name: str
    description: str = ""
    task: Literal["binary_classification", "regression"]
    source: SourceSpec
    features: FeatureSpec
    segments: tuple[str, ...] = ()
    split: SplitSpec
    estimator: EstimatorSpec
    baseline: BaselineSpec
    gates: GateSpec
    business: BusinessSpec | None = Field(default=None, description="binary classification: the value matrix")
    serving: ServingSpec = ServingSpec()
    canary: CanarySpec

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
        if (self.task == "binary_classification") != (self.business is not None):
            raise ValueError(
                "a binary classifier needs 'business' (its decision threshold maximises the value matrix); "
                "other tasks make no decision and must not have one"
            )
        unknown = set(self.serving.nullable) - set(self.features.all)
        if unknown:
            raise ValueError(f"serving.nullable names columns that are not features: {sorted(unknown)}")
        return self

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


# -- monitoring/<name>.yaml -------------------------------------------------------------------------------------


class DriftPolicySpec(_Strict):
    """How a window is judged (method and calibration: flywheel.monitoring.drift and docs/monitoring.md)."""

    min_rows: int = Field(
        default=500,
        ge=20,
        description="fewer rows in either window: 'insufficient data' (small windows are judged against the noise "
        "of their own size, so a small model can set it low)",
    )
    effect_threshold: float = Field(default=0.1, gt=0, description="smallest effect that counts as drift")
    null_quantile: float = Field(default=0.99, gt=0.5, lt=1)
    calibration_resamples: int = Field(default=100, ge=20)
    critical_share: float = Field(
        default=0.25, gt=0, le=1, description="share of drifted features that makes the drift verdict critical"
    )
    critical_importance_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="drifted features carrying this share of the model's permutation importance put its quality "
        "at risk: the alert is critical while the window's labels are missing",
    )
    reference: Literal["same_months", "whole_window"] = Field(
        default="same_months", description="same calendar months of the training window (seasonal data), or all"
    )
    reference_max_rows: int = Field(default=50_000, ge=1000)
    ignore: tuple[str, ...] = Field(default=(), description="features never judged (say why in the YAML)")


class QualityPolicySpec(_Strict):
    min_labelled_rows: int = Field(default=300, ge=10)
    max_drop: float = Field(
        ge=0, description="primary metric worse than the champion's holdout by more than this (in its units)"
    )


class RetrainPolicySpec(_Strict):
    critical_windows_in_a_row: int = Field(default=2, ge=1)
    on_quality_drop: bool = True
    cooldown_days: float = Field(ge=0)
    max_retrains: int = Field(ge=1, description="at most this many retrain requests per budget period")
    budget_period_days: float = Field(gt=0)
    min_new_labelled_rows: int = Field(ge=0, description="labelled rows newer than the champion's training data")


class AlertRouteSpec(_Strict):
    """One destination. URLs and SMTP credentials are secrets: the YAML names the environment variable."""

    kind: Literal["log", "webhook", "slack", "email"]
    min_severity: Literal["warning", "critical"] = "critical"
    url_env: str | None = Field(default=None, description="webhook / slack: env var holding the URL")
    to: tuple[str, ...] = Field(default=(), description="email: recipients")
    timeout_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _destination(self) -> AlertRouteSpec:
        if self.kind in ("webhook", "slack") and not self.url_env:
            raise ValueError(f"a {self.kind} route needs url_env (the environment variable holding the URL)")
        if self.kind == "email" and not self.to:
            raise ValueError("an email route needs 'to'")
        return self


class AlertPolicySpec(_Strict):
    quiet_period_hours: float = Field(ge=0, description="the same condition does not re-alert within this")
    unmonitored_after_windows: int = Field(
        default=3, ge=1, description="windows in a row without a drift verdict (too few rows) before an alert"
    )
    runbook: str = "docs/runbooks/drift.md"
    routes: tuple[AlertRouteSpec, ...] = Field(min_length=1)


class MonitorSpec(_Strict):
    name: str
    window: Window | None = Field(default=None, description="day | week | month | {rows: N}; sets the schedule")
    schedule: str = Field(default="0 0 1 * *", description="cron; each run judges the interval that just ended")
    drift: DriftPolicySpec = DriftPolicySpec()
    quality: QualityPolicySpec
    retrain: RetrainPolicySpec
    alerts: AlertPolicySpec

    _schedule_follows_the_window = model_validator(mode="before")(with_schedule)

    _schedule_is_a_cron = field_validator("schedule")(cron_expression)

    @property
    def rows_window(self) -> RowsWindowSpec | None:
        return self.window if isinstance(self.window, RowsWindowSpec) else None


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
