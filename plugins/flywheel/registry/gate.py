"""The offline gate: a challenger version against @champion and the baseline on the same holdout.

The verdict (a "blessing" when it passes) is stored three ways: a JSON artifact on the challenger's run, tags on
the model version (what promotion checks), and a ledger entry.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from flywheel.core import comparison
from flywheel.core.multiclass import score_array
from flywheel.core.tasks import Task, primary_metric, task_of
from flywheel.data.warehouse import Warehouse
from flywheel.registry import artifacts, ledger
from flywheel.registry.client import BLESSED_TAG
from flywheel.registry.register import CHAMPION, alias_version
from flywheel.registry.tracking import EVALUATED_SCORE_COLUMN, FITTED_UNTIL_PARAM, HOLDOUT_ARTIFACT
from flywheel.specs import ModelSpec
from flywheel.training.dataset import event_months
from flywheel.training.evaluate import segment_metrics

log = logging.getLogger(__name__)

# BLESSED_TAG: the tag this module alone sets to "true" (defined with the registry's typed reads)
GATED_AGAINST_TAG = "flywheel.gated_against_champion"
GATE_PAIRED_TAG = "flywheel.gate_paired_comparison"  # JSON of Verdict.paired: what a shadow stage may count


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    value: float | None
    limit: float | None
    detail: str


@dataclass
class Verdict:
    model: str
    version: str
    champion_version: str | None
    blessed: bool
    metric: str
    challenger_metric: float
    baseline_metric: float
    champion_metric: float | None
    checks: list[Check] = field(default_factory=list)
    # The challenger (as evaluated) against the champion on the same holdout rows the champion was not fitted on,
    # sized like the canary's evidence (core.comparison): a shadow stage may count it (canary.count_gate_evidence).
    paired: comparison.Comparison | None = None

    def summary(self) -> str:
        failed = [c.detail for c in self.checks if not c.passed]
        state = "BLESSED" if self.blessed else "REJECTED"
        return f"{self.model} v{self.version} {state}" + (f": {'; '.join(failed)}" if failed else "")


def _scores(
    task: Task, mlflow_client: Any, name: str, version: str, frame: pd.DataFrame, features: list[str]
) -> np.ndarray:
    """Scores of ``version`` (loaded only if its files are the registered ones) on ``frame``."""
    return task.score(artifacts.load_verified_model(mlflow_client, name, version), frame[features])


def _fitted_until(mlflow_client: Any, name: str, version: str) -> str | None:
    """The last month ``version`` was fitted on (YYYY-MM), from its run's parameters; None if not recorded."""
    params = mlflow_client.get_run(mlflow_client.get_model_version(name, version).run_id).data.params
    return params.get(FITTED_UNTIL_PARAM) or (params.get("train_months") or "").rpartition("..")[2] or None


def _unseen_by(spec: ModelSpec, mlflow_client: Any, champion: str, holdout: pd.DataFrame) -> tuple[np.ndarray, bool]:
    """The holdout rows the champion was not fitted on, and whether that is known (a champion refitted on its own
    holdout may have seen the first months of a newer holdout: comparing there would flatter it). All rows, not
    known, when it cannot be told (an older run or holdout) or when too few remain to compare on."""
    column = spec.source.event_time_column
    until = _fitted_until(mlflow_client, spec.name, champion)
    every = np.ones(len(holdout), dtype=bool)
    if column not in holdout or not until:
        return every, False
    months = event_months(holdout, spec)
    unseen = months > until
    return (unseen, True) if unseen.sum() >= spec.gates.min_segment_rows else (every, False)


def evaluate_gate(spec: ModelSpec, mlflow_client: Any, version: str) -> Verdict:
    """Compare ``version`` with the baseline and with @champion (if any) on ``version``'s holdout."""
    import mlflow

    name, gates = spec.name, spec.gates
    task, metric = task_of(spec), primary_metric(spec)
    mv = mlflow_client.get_model_version(name, version)
    holdout = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path=HOLDOUT_ARTIFACT))
    y = task.label(holdout[spec.source.target_column])
    features = spec.features.all
    if EVALUATED_SCORE_COLUMN in holdout:  # the model as evaluated, before its final fit on these very rows
        artifacts.verify(mlflow_client, name, version)  # the registered files are still checked
        challenger = score_array(holdout[EVALUATED_SCORE_COLUMN])
    else:
        challenger = _scores(task, mlflow_client, name, version, holdout, features)
    run_metrics = mlflow_client.get_run(mv.run_id).data.metrics
    challenger_metric = task.evaluate(y, challenger)[metric.name]
    baseline_metric = run_metrics[f"baseline_holdout_{metric.name}"]

    # Lift and drop are advantages in the metric's own direction: for an error metric, lower is the lift.
    lift = metric.advantage(challenger_metric, baseline_metric)
    checks = [
        Check(
            "beats_baseline",
            lift >= gates.min_lift_over_baseline,
            lift,
            gates.min_lift_over_baseline,
            f"{metric.label} {challenger_metric:.4f} vs baseline {baseline_metric:.4f} (lift {lift:+.4f}, "
            f"needs >= {gates.min_lift_over_baseline})",
        )
    ]
    champion_version = alias_version(mlflow_client, name, CHAMPION)
    champion_metric = None
    if champion_version and champion_version != version:
        unseen, known = _unseen_by(spec, mlflow_client, champion_version, holdout)
        rows, ys, ours = holdout[unseen].reset_index(drop=True), y[unseen], challenger[unseen]
        champion = _scores(task, mlflow_client, name, champion_version, rows, features)
        ours_metric, champion_metric = task.evaluate(ys, ours)[metric.name], task.evaluate(ys, champion)[metric.name]
        drop = -metric.advantage(ours_metric, champion_metric)
        where = "" if unseen.all() else f" on the {int(unseen.sum())} holdout rows after v{champion_version}'s data"
        checks.append(
            Check(
                "not_worse_than_champion",
                drop <= gates.max_drop_vs_champion,
                -drop,
                -gates.max_drop_vs_champion,
                f"{metric.label} {ours_metric:.4f} vs champion v{champion_version} "
                f"{champion_metric:.4f}{where} (allowed drop {gates.max_drop_vs_champion})",
            )
        )
        checks += _segment_checks(spec, task, rows, ys, ours, champion)
        checks += _forgetting_checks(spec, task, mlflow_client, version, champion_version)
        policy = spec.canary
        paired = (
            comparison.paired(metric, ys, champion, ours, policy.confidence, policy.bootstrap_resamples)
            if known
            else None
        )
    else:
        paired = None
        checks.append(Check("not_worse_than_champion", True, None, None, "no champion yet: nothing to compare"))
    checks += _disparity_checks(spec, holdout, y, challenger, run_metrics)
    return Verdict(
        name,
        version,
        champion_version if champion_version != version else None,
        all(c.passed for c in checks),
        metric.name,
        challenger_metric,
        baseline_metric,
        champion_metric,
        checks,
        paired,
    )


def _disparity_checks(
    spec: ModelSpec, holdout: pd.DataFrame, y: np.ndarray, scores: np.ndarray, run_metrics: dict[str, float]
) -> list[Check]:
    """``gates.max_disparity``: a binary classifier's decision (its scores at its threshold) may not treat one
    segment's errors worse than the best segment's of its column by more than the limit."""
    limit, threshold = spec.gates.max_disparity, run_metrics.get("decision_threshold")
    if limit is None or threshold is None:
        return []
    from flywheel.training.disparity import decision_disparity

    found = decision_disparity(holdout, spec.segments, y, scores >= threshold, spec.gates.min_segment_rows)
    gap = found.largest_gap or 0.0
    return [Check("disparity", gap <= limit, gap, limit, f"{found.where} (allowed {limit})")]


def _segment_checks(
    spec: ModelSpec, task: Task, holdout: pd.DataFrame, y: np.ndarray, challenger: np.ndarray, champion: np.ndarray
) -> list[Check]:
    metric = primary_metric(spec)
    table = segment_metrics(holdout, spec.segments, y, {"challenger": challenger, "champion": champion}, task)
    checks = []
    limit = spec.gates.max_segment_drop
    for row in table[table["rows"] >= spec.gates.min_segment_rows].to_dict("records"):
        ours, theirs = row[f"challenger_{metric.name}"], row[f"champion_{metric.name}"]
        drop = -metric.advantage(ours, theirs)
        if drop != drop:  # NaN: undefined in this segment (one class only)
            continue
        checks.append(
            Check(
                f"segment:{row['segment']}={row['value']}",
                drop <= limit,
                -drop,
                -limit,
                f"segment {row['segment']}={row['value']} ({row['rows']} rows) {metric.label} "
                f"{ours:.4f} vs champion {theirs:.4f}",
            )
        )
    return checks


def _forgetting_checks(spec: ModelSpec, task: Task, mlflow_client: Any, version: str, champion: str) -> list[Check]:
    """With ``gates.max_forgetting``: the challenger as registered, on the champion's own holdout (older rows it has
    usually been fitted on), against the champion's figure there when it was evaluated (before it had seen them).
    A challenger worse there than that has lost what the champion knew (a warm start fitted on a narrow window,
    a history cut short), not merely met drift."""
    limit = spec.gates.max_forgetting
    if limit is None:
        return []
    from flywheel.registry.client import Registry

    metric = primary_metric(spec)
    old = Registry(mlflow_client).evaluated_holdout(mlflow_client.get_model_version(spec.name, champion).run_id)
    if old is None:
        log.info("%s: v%s kept no evaluated holdout: no forgetting check", spec.name, champion)
        return []
    y = task.label(old[spec.source.target_column])
    then = task.evaluate(y, score_array(old[EVALUATED_SCORE_COLUMN]))[metric.name]
    now = task.evaluate(y, _scores(task, mlflow_client, spec.name, version, old, spec.features.all))[metric.name]
    forgot = -metric.advantage(now, then)
    months = event_months(old, spec)
    return [
        Check(
            "no_forgetting",
            forgot <= limit,
            -forgot,
            -limit,
            f"forgetting: on v{champion}'s holdout ({months.min()}..{months.max()}, {len(old)} rows) {metric.label} "
            f"{now:.4f} vs v{champion}'s {then:.4f} when it was evaluated (lost {forgot:+.4f}, allowed {limit})",
        )
    ]


def record_verdict(verdict: Verdict, mlflow_client: Any, warehouse: Warehouse, actor: str) -> None:
    mv = mlflow_client.get_model_version(verdict.model, verdict.version)
    document = asdict(verdict)
    mlflow_client.log_dict(mv.run_id, document, f"gate/verdict-v{verdict.version}.json")
    mlflow_client.set_model_version_tag(verdict.model, verdict.version, BLESSED_TAG, str(verdict.blessed).lower())
    mlflow_client.set_model_version_tag(
        verdict.model, verdict.version, GATED_AGAINST_TAG, verdict.champion_version or "none"
    )
    mlflow_client.set_model_version_tag(
        verdict.model, verdict.version, GATE_PAIRED_TAG, json.dumps(asdict(verdict.paired) if verdict.paired else None)
    )
    ledger.record(
        warehouse,
        ledger.LedgerEntry(
            verdict.model,
            verdict.version,
            "blessed" if verdict.blessed else "rejected",
            actor,
            verdict.summary(),
            json.loads(json.dumps(document, default=str)),
        ),
    )
    log.info("gate: %s", verdict.summary())


def recorded_verdict(mlflow_client: Any, name: str, version: str) -> bool | None:
    """The verdict already recorded for ``version`` against today's champion, or None if it must be gated."""
    tags = mlflow_client.get_model_version(name, version).tags
    champion = alias_version(mlflow_client, name, CHAMPION)
    expected = "none" if champion in (None, version) else champion
    if BLESSED_TAG not in tags or tags.get(GATED_AGAINST_TAG) != expected:
        return None
    return tags[BLESSED_TAG] == "true"
