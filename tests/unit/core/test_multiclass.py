"""Multiclass classification as a task: its metrics, decisions, labels and spec rules (flywheel.core.multiclass)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError
from sklearn.metrics import f1_score, log_loss, roc_auc_score

from flywheel.core import comparison
from flywheel.core.multiclass import class_index, decide, score_array, score_rows
from flywheel.core.tasks import METRICS, task_of
from flywheel.serving.schema import answer_fields
from flywheel.settings import get_settings
from flywheel.specs import ModelSpec, load_spec
from flywheel.training.estimators import OneRuleClassifier

SPEC = get_settings().project_dir / "models" / "booking_outcome.yaml"


def _sample(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    logits = rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


def test_metrics_equal_scikit_learns_on_a_sample_with_every_class():
    y, p = _sample()
    assert METRICS["roc_auc_ovr"].value(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr"), abs=1e-12)
    weighted = roc_auc_score(y, p, multi_class="ovr", average="weighted")
    assert METRICS["roc_auc_ovr_weighted"].value(y, p) == pytest.approx(weighted, abs=1e-12)
    assert METRICS["log_loss"].value(y, p) == pytest.approx(log_loss(y, p), abs=1e-9)
    assert METRICS["f1_macro"].value(y, p) == pytest.approx(f1_score(y, p.argmax(1), average="macro"), abs=1e-12)


def test_metrics_are_defined_on_a_small_sample_without_the_rare_class():
    """A canary's first records or a segment often lack the rare class: scikit-learn refuses the whole sample, the
    macro AUC here averages the classes that can be judged; one class alone has no AUC at all."""
    y, p = _sample(40, seed=1)
    y = np.where(y == 2, 0, y)  # no row of class 2
    judged = np.mean([roc_auc_score(y == c, p[:, c]) for c in (0, 1)])
    assert METRICS["roc_auc_ovr"].value(y, p) == pytest.approx(judged)
    assert np.isfinite(METRICS["log_loss"].value(y, p))
    assert METRICS["roc_auc_ovr"].value(np.zeros(10), p[:10]) is None


def test_scores_round_trip_through_a_dataframe_column_and_the_bootstrap_compares_them():
    y, p = _sample()
    column = pd.Series(score_rows(p))  # what the log, the holdout artifact and the windows keep per row
    assert np.array_equal(score_array(column), p)
    assert np.array_equal(score_array(column.to_numpy()), p)
    better = 0.5 * p + 0.5 * np.eye(3)[y]
    paired = comparison.paired(METRICS["roc_auc_ovr"], y, column.to_numpy(), score_rows(better), 0.95, 200)
    assert paired is not None and paired.method == "bootstrap" and paired.interval[0] > 0


def test_the_decision_is_the_most_probable_class_or_the_best_expected_value():
    p = np.array([[0.7, 0.2, 0.1], [0.45, 0.45, 0.10], [0.5, 0.1, 0.4]])
    assert decide(p, None).tolist() == [0, 0, 0]
    values = np.array([[0, -120, -15], [0, 80, 10], [0, 60, 40]], dtype=float)  # values[actual, decided]
    # expected value of each decision: row 1 (0, -62, -4.5); row 2 (0, -12, 1.75); row 3 (0, -28, 9.5)
    assert decide(p, values).tolist() == [0, 2, 2]


def test_labels_become_class_indices_and_an_unknown_value_is_named():
    classes = ("Check-Out", "Canceled", "No-Show")
    assert class_index(["Canceled", "No-Show", None, 0.0], classes).tolist()[:2] == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"\['drizzle'\].*not among the spec's classes"):
        class_index(["Canceled", "drizzle"], classes)


def test_the_outcome_spec_loads_and_its_task_knows_classes_and_values():
    spec = load_spec(SPEC)
    task = task_of(spec)
    assert task.classes == ("Check-Out", "Canceled", "No-Show")
    assert task.value_matrix is not None and task.value_matrix[1][1] == 80
    assert task.label(pd.Series(["No-Show", "Check-Out"])).tolist() == [2, 0]
    assert answer_fields([0.1, 0.3, 0.6], 2, task.classes) == {
        "score": 0.6,
        "decision": "No-Show",
        "probabilities": {"Check-Out": 0.1, "Canceled": 0.3, "No-Show": 0.6},
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("classes"), "'classes' lists a multiclass label's values"),
        (lambda d: d.update(classes=["a", "b"]), "three distinct values"),
        (lambda d: d["gates"].update(primary_metric="roc_auc"), "does not judge a multiclass_classification"),
        (lambda d: d["business"]["values"]["Canceled"].pop("No-Show"), r"business.values\['Canceled'\]"),
        (lambda d: d.update(business={"value_true_positive": 1, "cost_false_positive": 1}), "value matrix"),
    ],
)
def test_a_multiclass_spec_states_its_classes_metric_and_value_matrix(change, message):
    document = yaml.safe_load(Path(SPEC).read_text())
    document["name"] = SPEC.stem
    change(document)
    with pytest.raises(ValidationError, match=message):
        ModelSpec.model_validate(document)


def test_the_one_rule_baseline_predicts_each_values_class_shares():
    X = pd.DataFrame({"deposit": ["none", "none", "refund", "refund", None, "none"]})
    rule = OneRuleClassifier("deposit", n_classes=3).fit(X, [0, 1, 2, 2, 1, 0])
    shares = rule.predict_proba(pd.DataFrame({"deposit": ["none", "refund", "unseen"]}))
    assert shares[0] == pytest.approx([2 / 3, 1 / 3, 0])
    assert shares[1] == pytest.approx([0, 0, 1])
    assert shares[2] == pytest.approx([2 / 6, 2 / 6, 2 / 6])  # unseen: the prior
    binary = OneRuleClassifier("deposit").fit(X, [0, 1, 1, 1, 0, 0])
    assert binary.predict_proba(pd.DataFrame({"deposit": ["refund"]}))[0] == pytest.approx([0, 1])
