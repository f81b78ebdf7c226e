"""The alert packet: everything on-call needs about one monitored window, as one typed JSON document.

The monitor writes it next to the report (``verdict.json``) and the alert routes format it; docs/runbooks/drift.md
explains each field. A packet read back from the store (a retried delivery) is parsed into the same types, so a
field that is missing or mistyped fails loudly instead of printing ``None`` to on-call.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Quality(_Frozen):
    """The primary metric on the window's labelled rows, against the champion's holdout figure.

    ``change`` is the live figure's advantage over the holdout one in the metric's direction (negative = worse: for
    ROC AUC a lower value, for MAE a higher one); ``limit`` is the most negative change that is not a quality drop;
    ``threshold`` the worst live value that is not one (None in packets written before regression models)."""

    metric: str
    live: float
    champion_holdout: float
    change: float
    limit: float
    threshold: float | None = None
    labelled_rows: int

    @property
    def dropped(self) -> bool:
        return self.change < self.limit

    @property
    def drop(self) -> float:
        """The champion's holdout metric minus the live one, in the metric's direction (positive = worse)."""
        return -self.change


class EstimatedQuality(_Frozen):
    """The primary metric estimated from the window's scores alone, before any label (CBPE on the champion's
    holdout calibration: flywheel.monitoring.estimate). ``live`` is the realised figure once labels arrived."""

    metric: str
    method: str  # "CBPE (isotonic calibration on the champion's holdout)"
    estimate: float
    champion_holdout: float
    change: float
    limit: float
    threshold: float  # the worst estimate that is not a drop
    rows: int
    live: float | None = None

    @property
    def dropped(self) -> bool:
        return self.change < self.limit


class DriftImpact(_Frozen):
    """How much of the model's skill the drifted features carry: their share of its permutation importance on the
    holdout (recorded at training). Drift at or above ``limit`` puts quality at risk; below it, it is reported."""

    importance_share: float
    limit: float
    weighted: bool  # False: the version has no recorded importance, every judged feature weighs alike
    top: list[str] = []  # the most important drifted features with their share, "lead_time 41%"

    @property
    def at_risk(self) -> bool:
        return self.importance_share >= self.limit


class DriftedFeature(_Frozen):
    column: str
    kind: str
    method: str
    statistic: float
    threshold: float
    direction: str


class PredictionDrift(_Frozen):
    statistic: float
    threshold: float
    drifted: bool
    direction: str
    logged: int  # predictions the service logged for the window's rows
    rescored: int  # rows the monitor scored itself (no logged prediction)


class TargetDrift(_Frozen):
    statistic: float
    threshold: float
    drifted: bool
    direction: str


class UpstreamNode(_Frozen):
    node: str  # "model:stg_hotel__bookings", "source:raw.hotel_bookings"
    file: str  # the file to open, relative to the dbt project


class CanarySummary(_Frozen):
    status: str
    summary: str
    version: str | None = None
    share: float | None = None


class RetrainSummary(_Frozen):
    action: str
    reason: str
    trigger: str | None = None


class ReportLinks(_Frozen):
    """Where a window's documents are. A packet links only files that were written: a window with too few rows
    for a drift verdict has no Evidently report (``html`` and ``json`` are None), only its verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    html: str | None = None
    evidently_json: str | None = Field(default=None, alias="json")  # the document's key is "json"
    verdict: str
    quality_html: str | None = None  # live quality against the champion's out-of-sample holdout, once labelled

    @property
    def main(self) -> str:
        """What a person opens: the report, or the verdict when there is no report."""
        return self.html or self.verdict


class ChangedCategory(_Frozen):
    """A category that appeared, vanished or collapsed in the window (reported whatever the window's size)."""

    column: str
    category: str
    change: str  # appeared | vanished | collapsed
    reference_share: float
    current_share: float
    current_rows: int

    def describe(self, rows: bool = True) -> str:
        shares = f"{self.reference_share:.1%} -> {self.current_share:.1%}"
        return f"{self.column} {self.category!r} {self.change} ({shares}" + (
            f" of {self.current_rows:,} rows)" if rows else ")"
        )


class Window(_Frozen):
    start: str
    end: str


class AlertPacket(_Frozen):
    model: str
    version: str
    action: str  # alert | page
    severity: str
    window: Window
    since: str  # start of the unbroken run of windows at this severity or worse
    verdict: str
    reference: str
    current_rows: int
    reference_rows: int
    drifted_features: list[DriftedFeature]
    judged_features: int
    prediction_drift: PredictionDrift | None
    target_drift: TargetDrift | None
    quality: Quality | None
    upstream_dbt: dict[str, list[UpstreamNode]]
    canary: CanarySummary
    retrain: RetrainSummary
    report: ReportLinks
    runbook: str
    what_to_do: list[str]
    category_changes: list[ChangedCategory] = []
    unmonitored_windows: int = 0  # windows in a row without a drift verdict, this one included (alerts from K)
    quality_estimate: EstimatedQuality | None = None  # before labels (classifiers); None: not estimated
    drift_impact: DriftImpact | None = None  # None without a drift verdict

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2, by_alias=True).encode()
