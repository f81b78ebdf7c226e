"""How sure are we that the challenger is no worse than the champion? A comparison sized to its evidence.

Two designs, chosen by how the evidence was collected:

- **paired**: both models scored the same records (the shadow stage). The advantage's noise is only where the two
  models disagree, so a few hundred records already settle differences of a hundredth of ROC AUC.
- **independent**: each model answered its own share of entities (a live-share stage). Each arm's noise adds up.

ROC AUC is compared with DeLong's test (its variance in closed form, from the structural components of Sun & Xu's
fast algorithm: no resampling, exact for paired samples); any other metric with a bootstrap (paired: the same
records resampled for both arms; independent: each arm on its own). Both give the advantage, its interval at the
policy's confidence, its standard error and the **minimum detectable effect** (MDE): the smallest true advantage
the evidence would detect with ``POWER`` at that confidence, ``(z(1 - alpha/2) + z(power)) * standard error``.
A stage is judged only once its MDE is within the drop the policy tolerates: an interval from a handful of rows
says nothing, whatever its bounds.

No maintained library in the lock gives DeLong's paired test (scikit-learn has no AUC variance, scipy none for
AUC), so it is written out here (about twenty lines, checked against a bootstrap in the unit tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import norm, rankdata

from flywheel.core.multiclass import score_array
from flywheel.core.tasks import Metric

POWER = 0.8  # the chance the evidence detects a true difference of the MDE: the usual design choice
Design = Literal["paired", "independent"]


@dataclass(frozen=True)
class Comparison:
    """The challenger's advantage on the primary metric (positive = better) with its uncertainty."""

    design: Design
    method: str  # "delong" | "bootstrap"
    records: int  # paired: records both scored; independent: the smaller arm
    advantage: float
    interval: tuple[float, float]
    standard_error: float
    mde: float  # minimum detectable effect, in the metric's units


def from_record(record: dict[str, Any] | None) -> Comparison | None:
    """A comparison read back from JSON (a registry tag, a ledger entry)."""
    if not record:
        return None
    interval = record["interval"]
    return Comparison(**{**record, "interval": (float(interval[0]), float(interval[1]))})


def z_values(confidence: float) -> tuple[float, float]:
    """The two-sided critical value at ``confidence`` and the one for ``POWER``."""
    return float(norm.ppf(1 - (1 - confidence) / 2)), float(norm.ppf(POWER))


def _sized(
    design: Design,
    method: str,
    records: int,
    advantage: float,
    se: float,
    confidence: float,
    interval: tuple[float, float] | None = None,
) -> Comparison:
    z, z_power = z_values(confidence)
    interval = interval or (advantage - z * se, advantage + z * se)
    return Comparison(design, method, records, advantage, interval, se, (z + z_power) * se)


def _delong(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of each row of ``scores`` (models x records) and their covariance matrix (Sun & Xu, 2014)."""
    positive = labels == 1
    m, n = int(positive.sum()), int((~positive).sum())
    pos, neg = scores[:, positive], scores[:, ~positive]
    tx = np.apply_along_axis(rankdata, 1, pos)
    ty = np.apply_along_axis(rankdata, 1, neg)
    tz = np.apply_along_axis(rankdata, 1, np.hstack([pos, neg]))
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v01 = (tz[:, :m] - tx) / n  # per positive: the share of negatives it outranks
    v10 = 1 - (tz[:, m:] - ty) / m  # per negative: the share of positives that outrank it
    covariance = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, covariance


def _both_classes(labels: np.ndarray) -> bool:
    """DeLong needs a variance on each side: two positives and two negatives at least."""
    positives = int(labels.sum())
    return positives >= 2 and len(labels) - positives >= 2


def paired(
    metric: Metric,
    labels: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    confidence: float,
    resamples: int,
    seed: int = 0,
) -> Comparison | None:
    """Both models scored the same records (row i of each array is the same record)."""
    labels, champion, challenger = np.asarray(labels, dtype=float), score_array(champion), score_array(challenger)
    if metric.name == "roc_auc":
        if not _both_classes(labels):
            return None
        aucs, cov = _delong(labels, np.vstack([champion, challenger]))
        se = float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)))
        return _sized("paired", "delong", len(labels), float(aucs[1] - aucs[0]), se, confidence)
    rng = np.random.default_rng(seed)
    draws = ((idx, idx) for idx in (rng.integers(0, len(labels), len(labels)) for _ in range(resamples)))
    arms = ((labels, champion), (labels, challenger))
    return _bootstrapped("paired", metric, arms, draws, resamples, confidence, len(labels))


def independent(
    metric: Metric,
    champion: tuple[np.ndarray, np.ndarray],
    challenger: tuple[np.ndarray, np.ndarray],
    confidence: float,
    resamples: int,
    seed: int = 0,
) -> Comparison | None:
    """Each model scored its own records: ``(labels, scores)`` per arm."""
    (cl, cs), (hl, hs) = ((np.asarray(a, dtype=float), score_array(b)) for a, b in (champion, challenger))
    records = min(len(cl), len(hl))
    if metric.name == "roc_auc":
        if not (_both_classes(cl) and _both_classes(hl)):
            return None
        (auc_c,), var_c = _delong(cl, cs[None, :])
        (auc_h,), var_h = _delong(hl, hs[None, :])
        se = float(np.sqrt(var_c[0, 0] + var_h[0, 0]))
        return _sized("independent", "delong", records, float(auc_h - auc_c), se, confidence)
    if records == 0:
        return None
    rng = np.random.default_rng(seed)
    draws = ((rng.integers(0, len(cl), len(cl)), rng.integers(0, len(hl), len(hl))) for _ in range(resamples))
    return _bootstrapped("independent", metric, ((cl, cs), (hl, hs)), draws, resamples, confidence, records)


Arm = tuple[np.ndarray, np.ndarray]  # (labels, scores)


def _bootstrapped(
    design: Design,
    metric: Metric,
    arms: tuple[Arm, Arm],
    draws: Iterator[tuple[np.ndarray, np.ndarray]],
    resamples: int,
    confidence: float,
    records: int,
) -> Comparison | None:
    """Percentile interval of the advantage over ``draws`` (row indices into the champion's and the challenger's
    arm: the same indices for a paired design)."""
    (cl, cs), (hl, hs) = arms
    champion_value, challenger_value = metric.value(cl, cs), metric.value(hl, hs)
    if champion_value is None or challenger_value is None:
        return None
    differences = []
    for i, j in draws:
        a, b = metric.value(cl[i], cs[i]), metric.value(hl[j], hs[j])
        if a is not None and b is not None:
            differences.append(metric.advantage(b, a))
    if len(differences) < resamples // 2:
        return None
    alpha = (1 - confidence) / 2
    interval = (float(np.quantile(differences, alpha)), float(np.quantile(differences, 1 - alpha)))
    advantage = metric.advantage(challenger_value, champion_value)
    return _sized(design, "bootstrap", records, advantage, float(np.std(differences, ddof=1)), confidence, interval)
