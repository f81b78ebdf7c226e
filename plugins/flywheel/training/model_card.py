"""A model card in markdown: data window, features, metrics against the baseline, segments, limitations."""

from __future__ import annotations

import math

import pandas as pd

from flywheel.core.tasks import Metric, Task, primary_metric, task_of
from flywheel.specs import ModelSpec, ValueMatrixSpec
from flywheel.training.cost import TrainingCost
from flywheel.training.cost_lines import cost_lines
from flywheel.training.dataset import Snapshot, TimeSplit
from flywheel.training.fit import TrainingResult

INTENDED_USE = "## Intended use and limits"  # the section the gate's checklist looks for (jobs.checklist)


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _segments_table(segments: pd.DataFrame, min_rows: int, task: Task, metric: Metric) -> list[str]:
    mean = task.label_mean.replace("_", " ")
    lines = [
        f"| segment | value | rows | {mean} | model {metric.label} | baseline {metric.label} |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in segments.to_dict("records"):
        note = "" if row["rows"] >= min_rows else " (small)"
        lines.append(
            f"| {row['segment']} | {row['value']}{note} | {row['rows']} | {row[task.label_mean]:.3f} | "
            f"{_fmt(row[f'model_{metric.name}'])} | {_fmt(row[f'baseline_{metric.name}'])} |"
        )
    return lines


def _business_lines(spec: ModelSpec, result: TrainingResult) -> list[str]:
    """A classifier's decision threshold and what its decisions are worth (the spec's value matrix)."""
    business = spec.business
    if business is None or result.business is None or result.baseline_business is None:
        return []
    cur = business.currency
    if isinstance(business, ValueMatrixSpec):
        header = " | ".join(spec.classes)
        rows = [
            f"| {a} | " + " | ".join(f"{business.values[a][d]:g}" for d in spec.classes) + " |" for a in spec.classes
        ]
        return [
            "## Business value",
            f"Value matrix ({cur} per row; rows: what happened, columns: what was decided). "
            f"{business.rationale.strip()}",
            "",
            f"| actual \\ decided | {header} |",
            "| --- |" + " --- |" * len(spec.classes),
            *rows,
            "",
            "- Decision: the class with the highest expected value under the matrix (its probabilities x values).",
            f"- Value per 1,000 rows on the holdout: {result.business.value_per_1000:,.0f} {cur} (baseline deciding "
            f"the same way on its own probabilities: {result.baseline_business.value_per_1000:,.0f} {cur}).",
            "",
        ]
    return [
        "## Business value",
        f"Value matrix ({cur} per row): correct flag +{business.value_true_positive:g}, false alarm "
        f"-{business.cost_false_positive:g}, correct pass +{business.value_true_negative:g}, missed "
        f"-{business.cost_false_negative:g}. {business.rationale.strip()}",
        "",
        f"- Decision threshold (chosen on the training folds, not the holdout): {result.business.threshold:.3f}",
        f"- Expected value per 1,000 rows on the holdout: {result.business.value_per_1000:,.0f} {cur} "
        f"(baseline at its own best threshold: {result.baseline_business.value_per_1000:,.0f} {cur}).",
        "",
    ]


def _importance_lines(result: TrainingResult, metric: Metric) -> list[str]:
    """The ten inputs the holdout metric depends on most (permutation importance; the monitor weighs drift by it)."""
    if not result.importance:
        return []
    top = sorted(result.importance.items(), key=lambda kv: -kv[1])[:10]
    return [
        "## What the model relies on (holdout permutation importance)",
        f"How much the holdout {metric.label} worsens when the column is shuffled; the monitor pages on drift only in "
        "features that carry a large share of it.",
        "",
        "| feature | importance |",
        "| --- | ---: |",
        *[f"| {column} | {value:.4f} |" for column, value in top],
        "",
    ]


def _disparity_lines(spec: ModelSpec, result: TrainingResult) -> list[str]:
    """A binary classifier's decision by segment (training.disparity): who is flagged, and whose errors are worse."""
    if result.disparity is None:
        return []
    limit = spec.gates.max_disparity
    lines = [
        "## Disparity of the decision by segment (holdout)",
        "Per segment value: the share flagged, the false positive and false negative rates, and each rate's gap to "
        f"the best value of its column (values of at least {spec.gates.min_segment_rows} rows; Fairlearn "
        "MetricFrame). "
        + (
            f"The gate refuses a largest gap over {limit}."
            if limit is not None
            else "Not gated: set `gates.max_disparity` to refuse a version over a limit."
        ),
        "",
        f"Largest gap: {result.disparity.where}.",
        "",
        "| segment | value | rows | flagged | false positive rate | false negative rate | FPR gap | FNR gap |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result.disparity.table.to_dict("records"):
        gaps = [("-" if row[g] != row[g] else f"{row[g]:+.3f}") for g in ("fpr_gap", "fnr_gap")]
        lines.append(
            f"| {row['segment']} | {row['value']} | {int(row['rows'])} | {row['selection_rate']:.3f} | "
            f"{row['false_positive_rate']:.3f} | {row['false_negative_rate']:.3f} | {gaps[0]} | {gaps[1]} |"
        )
    return [*lines, ""]


def _intended_use_lines(spec: ModelSpec) -> list[str]:
    """What the model is for and what it is not, from the spec (its description and the value matrix's rationale)."""
    lines = [INTENDED_USE, f"- For: {spec.description.strip()}"]
    rationale = getattr(spec.business, "rationale", None)
    if rationale:
        lines.append(f"- The decision's costs and gains: {rationale.strip()}")
    lines += [
        "- Not for: decisions about individual people beyond this use, or rows from outside the population it was "
        "trained on (other sites, markets or channels) without a new training and gate.",
    ]
    return lines


def render_model_card(
    spec: ModelSpec,
    snapshot: Snapshot,
    split: TimeSplit,
    result: TrainingResult,
    lineage: dict[str, str],
    cost: TrainingCost | None = None,
) -> str:
    m, b = result.holdout_metrics, result.baseline_metrics
    task, metric = task_of(spec), primary_metric(spec)
    lines = [
        f"# Model card: {spec.name}",
        "",
        spec.description.strip(),
        "",
        "## Data",
        f"- Source: `marts.{spec.source.mart}`, one row per `{spec.source.id_column}`, label "
        f"`{spec.source.target_column}`, event time `{spec.source.event_time_column}`.",
        f"- Snapshot: {len(snapshot.frame):,} labelled rows, {snapshot.first_event} .. {snapshot.last_event}, "
        f"sha256 `{snapshot.sha256[:16]}`; quarantined batches excluded: "
        f"{', '.join(snapshot.excluded_batches) or 'none'}.",
        f"- Training window: {split.train_months[0]} .. {split.train_months[-1]} ({len(split.train):,} rows); "
        f"holdout (most recent labelled window): {', '.join(split.holdout_months)} ({len(split.holdout):,} rows).",
        "- Search folds (expanding window): "
        + "; ".join(f"fit {f[0]}..{f[-1]} -> validate {v[0]}..{v[-1]}" for f, v in split.fold_months),
        "",
        "## Features",
        f"- Numeric ({len(spec.features.numeric)}): {', '.join(spec.features.numeric)}",
        f"- Categorical ({len(spec.features.categorical)}): {', '.join(spec.features.categorical)}",
        f"- Estimator: `{spec.estimator.class_path}` with {result.best_params or 'spec defaults'} "
        + (
            f"(no search: {result.continuation})."
            if result.continuation
            else f"(cross-validated {metric.label} {_fmt(result.cv_score)})."
        ),
        "",
        "## Holdout metrics vs the baseline",
        f"Baseline: {spec.baseline.kind}" + (f" on `{spec.baseline.column}`" if spec.baseline.column else "") + ".",
        "",
        "| metric | model | baseline |",
        "| --- | ---: | ---: |",
        *[f"| {k} | {_fmt(m[k])} | {_fmt(b[k])} |" for k in task.metrics],
        *[f"| recall of {c} | {_fmt(m[f'recall__{c}'])} | {_fmt(b[f'recall__{c}'])} |" for c in task.classes],
        "",
        *_business_lines(spec, result),
        *cost_lines(spec, result, cost),
        *_importance_lines(result, metric),
        "## Segments (holdout)",
        *_segments_table(result.segments, spec.gates.min_segment_rows, task, metric),
        "",
        *_disparity_lines(spec, result),
        *_intended_use_lines(spec),
        "",
        "## Limitations",
        "- Trained on the months above only; the data drifts over time, so quality on later months can fall: the "
        "canary and the live metrics are the check.",
        f"- Segments under {spec.gates.min_segment_rows} holdout rows are marked (small): their metrics are noisy "
        "and they are not gated.",
        *(["- The value matrix is an assumption of the spec; change it there, not in code."] if spec.business else []),
        "",
        "## Lineage",
        *[f"- `{k}`: {v}" for k, v in sorted(lineage.items())],
        "",
    ]
    return "\n".join(lines)
