"""The Evidently report of a monitored window: what people open from an alert (HTML) and what tools read (JSON).

It shows the same statistics and per-column thresholds as the verdict (``flywheel.monitoring.drift``): the
methods are set per column and each threshold is the calibrated one, so a column is red in the report exactly when
it counts as drifted in the alert.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from flywheel.monitoring.drift import DriftVerdict

PREDICTION = "prediction"


@dataclass(frozen=True)
class RenderedReport:
    html: bytes
    json: bytes


def render(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    verdict: DriftVerdict,
    numeric: list[str],
    categorical: list[str],
    target: str | None,
    task: str,
) -> RenderedReport:
    """Data drift per feature and of the prediction; with labels, target drift and model quality too."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset

    judged = [*verdict.columns, *([verdict.prediction] if verdict.prediction else [])]
    drift_columns = [c.column for c in judged]
    # Quality needs labels on (nearly) every row: the presets share one dataset, and drift is judged on all rows.
    labelled = target is not None and target in current and current[target].notna().mean() >= 0.95
    columns = drift_columns + ([target] if labelled else [])
    numerical_columns = [c for c in [*numeric, PREDICTION] if c in drift_columns]
    categorical_columns = [c for c in categorical if c in drift_columns]
    definition_args: dict[str, object] = {
        "numerical_columns": numerical_columns,
        "categorical_columns": categorical_columns,
    }
    presets: list[object] = [
        DataDriftPreset(
            columns=drift_columns,
            per_column_method={c.column: c.method for c in judged},
            per_column_threshold={c.column: c.threshold for c in judged},
        )
    ]
    if labelled and target is not None:
        if task == "regression":
            numerical_columns.append(target)
            definition_args["regression"] = [Regression(target=target, prediction=PREDICTION)]
            presets.append(RegressionPreset())
        else:
            categorical_columns.append(target)
            definition_args["classification"] = [BinaryClassification(target=target, prediction_probas=PREDICTION)]
            presets.append(ClassificationPreset())
        presets.append(DataDriftPreset(columns=[target]))  # target drift, Evidently's default method
    definition = DataDefinition(**definition_args)

    def dataset(frame: pd.DataFrame) -> object:
        part = frame[[c for c in columns if c in frame]].copy()
        if labelled and task != "regression":
            part[target] = part[target].astype("int64")
        return Dataset.from_pandas(part, data_definition=definition)

    reference_labelled = reference[reference[target].notna()] if labelled else reference
    snapshot = Report(presets, include_tests=True).run(
        current_data=dataset(current[current[target].notna()] if labelled else current),
        reference_data=dataset(reference_labelled),
    )
    with tempfile.TemporaryDirectory() as folder:
        html_path = Path(folder) / "report.html"
        snapshot.save_html(str(html_path))
        html = html_path.read_bytes()
    return RenderedReport(html=html, json=json.dumps(snapshot.dict(), default=str).encode())
