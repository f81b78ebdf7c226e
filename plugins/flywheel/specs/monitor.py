"""Typed, strict monitoring policies: ``monitoring/<name>.yaml`` (loaded by ``flywheel.specs.load_monitor_spec``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from flywheel.specs.strict import Strict as _Strict
from flywheel.specs.window import RowsWindowSpec, Window, cron_expression, with_schedule


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
