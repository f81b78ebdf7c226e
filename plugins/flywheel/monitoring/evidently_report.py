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
# A multiclass model's class probabilities (a list per row); its ``prediction`` is then the decided class's name,
# so prediction drift is judged on the decisions, as a category (flywheel.monitoring.windows.with_decided_class).
PROBABILITIES = "class_probabilities"


@dataclass(frozen=True)
class RenderedReport:
    html: bytes
    json: bytes
    quality_html: bytes | None = None  # live quality against the champion's out-of-sample holdout, once labelled
    quality_json: bytes | None = None


def render(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    verdict: DriftVerdict,
    numeric: list[str],
    categorical: list[str],
    target: str | None,
    task: str,
    quality_reference: pd.DataFrame | None = None,
    classes: tuple[str, ...] = (),
) -> RenderedReport:
    """Data drift per feature and of the prediction, and with labels target drift, against ``reference``; with
    labels and ``quality_reference`` (the champion's holdout with its out-of-sample scores in ``prediction`` and the
    label in ``target``) a second report of model quality. Quality is never shown against ``reference``: the
    champion was fitted on those rows, and its fit on them (e.g. ROC AUC 0.95 where the holdout had 0.90) would
    make every window look like a drop. A multiclass model (``classes``) has its decided class in ``prediction``
    and its class probabilities in ``class_probabilities``: its label is shown by class name."""
    from evidently import DataDefinition

    if classes and target is not None:
        current, reference = (_named(frame, target, classes) for frame in (current, reference))
        if quality_reference is not None:
            quality_reference = _named(quality_reference, target, classes)
    from evidently.presets import DataDriftPreset

    judged = [*verdict.columns, *([verdict.prediction] if verdict.prediction else [])]
    drift_columns = [c.column for c in judged]
    # Target drift and quality need labels on (nearly) every row: drift is judged on all rows of the window.
    labelled = target is not None and target in current and current[target].notna().mean() >= 0.95
    scores, decisions = ([], [PREDICTION]) if classes else ([PREDICTION], [])
    numerical_columns = [c for c in [*numeric, *scores] if c in drift_columns]
    categorical_columns = [c for c in [*categorical, *decisions] if c in drift_columns]
    presets: list[object] = [
        DataDriftPreset(
            columns=drift_columns,
            per_column_method={c.column: c.method for c in judged},
            per_column_threshold={c.column: c.threshold for c in judged},
        )
    ]
    if labelled and target is not None:
        (numerical_columns if task == "regression" else categorical_columns).append(target)
        presets.append(DataDriftPreset(columns=[target]))  # target drift, Evidently's default method
    definition = DataDefinition(numerical_columns=numerical_columns, categorical_columns=categorical_columns)
    columns = drift_columns + ([target] if labelled and target is not None else [])
    html, document = _run(presets, definition, columns, current, reference, target if labelled else None, task)
    if not labelled or target is None or quality_reference is None or quality_reference.empty:
        return RenderedReport(html, document)
    quality_html, quality_document = _quality(current, quality_reference, target, task, classes)
    return RenderedReport(html, document, quality_html, quality_document)


def _named(frame: pd.DataFrame, target: str, classes: tuple[str, ...]) -> pd.DataFrame:
    """A multiclass frame as Evidently reads it: the label by class name, one probability column per class."""
    named = frame.copy()
    if target in named:
        named[target] = named[target].map(lambda i: classes[int(i)] if pd.notna(i) else None)
    if PROBABILITIES in named and len(named):
        probabilities = pd.DataFrame(named[PROBABILITIES].tolist(), index=named.index, columns=list(classes))
        named = pd.concat([named.drop(columns=PROBABILITIES), probabilities], axis=1)
    return named


def _quality(
    current: pd.DataFrame, holdout: pd.DataFrame, target: str, task: str, classes: tuple[str, ...] = ()
) -> tuple[bytes, bytes]:
    from evidently import BinaryClassification, DataDefinition, MulticlassClassification, Regression
    from evidently.presets import ClassificationPreset, RegressionPreset

    if classes:
        definition = DataDefinition(
            numerical_columns=list(classes),
            categorical_columns=[target, PREDICTION],
            classification=[
                MulticlassClassification(target=target, prediction_labels=PREDICTION, prediction_probas=list(classes))
            ],
        )
        return _run(
            [ClassificationPreset()], definition, [target, PREDICTION, *classes], current, holdout, target, task
        )
    if task == "regression":
        definition = DataDefinition(
            numerical_columns=[target, PREDICTION], regression=[Regression(target=target, prediction=PREDICTION)]
        )
        preset: object = RegressionPreset()
    else:
        definition = DataDefinition(
            numerical_columns=[PREDICTION],
            categorical_columns=[target],
            classification=[BinaryClassification(target=target, prediction_probas=PREDICTION)],
        )
        preset = ClassificationPreset()
    return _run([preset], definition, [target, PREDICTION], current, holdout, target, task)


def _run(
    presets: list[object],
    definition: object,
    columns: list[str],
    current: pd.DataFrame,
    reference: pd.DataFrame,
    target: str | None,
    task: str,
) -> tuple[bytes, bytes]:
    """One Evidently report (with its tests) of ``columns``; with ``target``, only the rows that have a label."""
    from evidently import Dataset, Report

    def dataset(frame: pd.DataFrame) -> object:
        part = frame[frame[target].notna()] if target is not None else frame
        part = part[[c for c in columns if c in part]].copy()
        if target is not None and task == "binary_classification":
            part[target] = part[target].astype("int64")
        return Dataset.from_pandas(part, data_definition=definition)

    snapshot = Report(presets, include_tests=True).run(current_data=dataset(current), reference_data=dataset(reference))
    with tempfile.TemporaryDirectory() as folder:
        html_path = Path(folder) / "report.html"
        snapshot.save_html(str(html_path))
        html = html_path.read_bytes()
    return html, json.dumps(snapshot.dict(), default=str).encode()
