"""A model card in markdown: data window, features, metrics against the baseline, segments, limitations."""

from __future__ import annotations

import math

import pandas as pd

from flywheel.specs import ModelSpec
from flywheel.training.dataset import Snapshot, TimeSplit
from flywheel.training.fit import TrainingResult


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _segments_table(segments: pd.DataFrame, min_rows: int) -> list[str]:
    lines = [
        "| segment | value | rows | positive rate | model ROC AUC | baseline ROC AUC |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in segments.itertuples(index=False):
        note = "" if row.rows >= min_rows else " (small)"
        lines.append(
            f"| {row.segment} | {row.value}{note} | {row.rows} | {row.positive_rate:.3f} | "
            f"{_fmt(row.model_roc_auc)} | {_fmt(row.baseline_roc_auc)} |"
        )
    return lines


def render_model_card(
    spec: ModelSpec, snapshot: Snapshot, split: TimeSplit, result: TrainingResult, lineage: dict[str, str]
) -> str:
    m, b = result.holdout_metrics, result.baseline_metrics
    cur = spec.business.currency
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
        f"(cross-validated {spec.gates.primary_metric} {_fmt(result.cv_score)}).",
        "",
        "## Holdout metrics vs the baseline",
        f"Baseline: {spec.baseline.kind}" + (f" on `{spec.baseline.column}`" if spec.baseline.column else "") + ".",
        "",
        "| metric | model | baseline |",
        "| --- | ---: | ---: |",
        *[f"| {k} | {_fmt(m[k])} | {_fmt(b[k])} |" for k in ("roc_auc", "pr_auc", "log_loss", "brier")],
        "",
        "## Business value",
        f"Value matrix ({cur} per booking): correct flag +{spec.business.value_true_positive:g}, false alarm "
        f"-{spec.business.cost_false_positive:g}, correct pass +{spec.business.value_true_negative:g}, missed "
        f"-{spec.business.cost_false_negative:g}. {spec.business.rationale.strip()}",
        "",
        f"- Decision threshold (chosen on the training folds, not the holdout): {result.business.threshold:.3f}",
        f"- Expected value per 1,000 bookings on the holdout: {result.business.value_per_1000:,.0f} {cur} "
        f"(baseline at its own best threshold: {result.baseline_business.value_per_1000:,.0f} {cur}).",
        "",
        "## Segments (holdout)",
        *_segments_table(result.segments, spec.gates.min_segment_rows),
        "",
        "## Limitations",
        "- Trained on the months above only; guest mix, channels and prices drift over time, so quality on later "
        "months can fall: the canary and the live metrics are the check.",
        f"- Segments under {spec.gates.min_segment_rows} holdout rows are marked (small): their metrics are noisy "
        "and they are not gated.",
        "- The value matrix is an assumption of the spec; change it there, not in code.",
        "",
        "## Lineage",
        *[f"- `{k}`: {v}" for k, v in sorted(lineage.items())],
        "",
    ]
    return "\n".join(lines)
