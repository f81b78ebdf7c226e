"""What a multiclass classifier's scores are and how they are judged.

A multiclass score is a row of class probabilities, in the order of the spec's ``classes`` (the label's values); a
label is the index of its class in that order, so the prediction log and the labels table keep numbers for every
task. In memory a window's scores are a 2-D array (rows x classes); in a DataFrame or a Parquet file each row holds
its list of probabilities (``score_array`` turns either back into the array).

The metrics are scikit-learn's, made defined on small samples: one-vs-rest ROC AUC averages the classes that have
both positives and negatives in the sample (scikit-learn refuses the whole sample when one class is absent, which a
canary's first few hundred records or a segment often are), and log loss and F1 are computed against every class
of the spec, present or not.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def score_array(values: Any) -> np.ndarray:
    """Scores as numbers: 1-D floats (a probability or a value per row), or 2-D (rows x classes) when each row
    holds a list of class probabilities (a DataFrame column, a Parquet list column, a list of tuples)."""
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if array.ndim == 1 and len(array) and isinstance(array[0], (list, tuple, np.ndarray)):
        return np.vstack([np.asarray(row, dtype=float) for row in array])
    return np.asarray(array, dtype=float)


def score_rows(scores: np.ndarray) -> list[Any]:
    """The inverse of ``score_array`` for a DataFrame column: a float per row, or a list of probabilities per row."""
    scores = np.asarray(scores, dtype=float)
    return [list(map(float, row)) for row in scores] if scores.ndim == 2 else [float(s) for s in scores]


def aligned(model: Any, probabilities: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities with one column per class of the spec: a model fitted where a class never occurred (a search
    fold, a small training window) has columns for its own ``classes_`` only; the others get probability 0."""
    if probabilities.shape[1] == n_classes:
        return probabilities
    full = np.zeros((len(probabilities), n_classes))
    full[:, np.asarray(model.classes_, dtype=int)] = probabilities
    return full


def _present(y: np.ndarray, k: int) -> list[int]:
    return [c for c in range(k) if 0 < int(np.sum(y == c)) < len(y)]


def roc_auc_ovr(y: np.ndarray, s: np.ndarray, weighted: bool = False) -> float | None:
    """One-vs-rest ROC AUC, the mean over classes with both positives and negatives in the sample (weighted by
    prevalence when ``weighted``); None when no class has both."""
    from sklearn.metrics import roc_auc_score

    y = y.astype(int)
    classes = _present(y, s.shape[1])
    if not classes:
        return None
    aucs = np.array([roc_auc_score(y == c, s[:, c]) for c in classes])
    weights = np.array([np.sum(y == c) for c in classes], dtype=float) if weighted else np.ones(len(classes))
    return float(np.sum(aucs * weights) / np.sum(weights))


def log_loss(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import log_loss as sk_log_loss

    clipped = np.clip(s, 1e-7, 1.0)  # a probability of 0 for the true class would make the loss infinite
    return float(
        sk_log_loss(y.astype(int), clipped / clipped.sum(axis=1, keepdims=True), labels=list(range(s.shape[1])))
    )


def f1_macro(y: np.ndarray, s: np.ndarray) -> float:
    """Macro F1 of the most probable class (the decision without a value matrix), over every class of the spec."""
    from sklearn.metrics import f1_score

    return float(f1_score(y.astype(int), s.argmax(axis=1), labels=list(range(s.shape[1])), average="macro"))


def recall_per_class(y: np.ndarray, s: np.ndarray) -> list[float]:
    """Each class's recall of the most probable class; NaN for a class absent from the sample."""
    decided, y = s.argmax(axis=1), y.astype(int)
    return [float(np.mean(decided[y == c] == c)) if np.any(y == c) else float("nan") for c in range(s.shape[1])]


def decide(probabilities: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """The decided class per row: the most probable one, or with a value matrix (``values[actual, decided]``) the
    one whose expected value, sum over actual classes of probability x value, is highest."""
    probabilities = np.atleast_2d(probabilities)
    expected = probabilities if values is None else probabilities @ values
    return np.asarray(expected.argmax(axis=1), dtype=int)


def class_index(values: Any, classes: tuple[str, ...], column: str = "label") -> np.ndarray:
    """Class names (or their indices, as the labels table keeps them) -> index in ``classes``; a value that is not
    one of the classes is an error naming it, never a silent NaN."""
    series = np.asarray(values, dtype=object)
    lookup = {name: i for i, name in enumerate(classes)}
    out = np.empty(len(series), dtype=float)
    unknown: set[str] = set()
    for i, value in enumerate(series):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out[i] = np.nan
        elif isinstance(value, (int, float, np.integer, np.floating)) and 0 <= value < len(classes):
            out[i] = float(value)
        elif str(value) in lookup:
            out[i] = lookup[str(value)]
        else:
            unknown.add(str(value))
    if unknown:
        raise ValueError(
            f"{column} holds {sorted(unknown)[:5]}, which are not among the spec's classes {list(classes)}: "
            "add them to 'classes' in the model's spec, or map them to one of those in the dbt mart"
        )
    return out
