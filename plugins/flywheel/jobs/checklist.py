"""The pre-production checklist at gate time: gather its evidence (the run's lineage, metrics and cost, the gate's
checks, the policy files), let ``decisions.checklist`` judge it, turn a failed required item into a failed gate
check (no blessing, the item named in the ledger), and complete the model card with the checklist."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from flywheel.core.tasks import primary_metric
from flywheel.decisions.checklist import ChecklistEvidence, Item, as_markdown, checklist
from flywheel.registry import gate
from flywheel.registry.register import CHAMPION, alias_version
from flywheel.training.model_card import INTENDED_USE
from flywheel.workspace import Workspace

log = logging.getLogger(__name__)

CARD = "model_card.md"
TAG = "flywheel.checklist"  # JSON on the version: [[item, status, evidence], ...], what the approval request shows
_SECTION = re.compile(r"\n## Pre-production checklist.*?(?=\n## |\Z)", re.DOTALL)


def _monitoring_policy(workspace: Workspace, name: str) -> bool:
    try:
        workspace.monitor_spec(name)
        return True
    except (OSError, ValueError) as exc:
        log.warning("%s: no valid monitoring policy (%s)", name, exc)
        return False


def gather(workspace: Workspace, name: str, version: str, verdict: gate.Verdict, card: str) -> ChecklistEvidence:
    spec, client = workspace.spec(name), workspace.registry.mlflow
    run = client.get_run(client.get_model_version(name, version).run_id)
    metrics, tags = run.data.metrics, run.data.tags
    metric = primary_metric(spec)
    lift = next((c.value for c in verdict.checks if c.name == "beats_baseline"), None)
    champion = alias_version(client, name, CHAMPION)
    return ChecklistEvidence(
        metric=metric.label,
        lift_over_baseline=lift,
        min_lift=spec.gates.min_lift_over_baseline,
        value_per_1000=metrics.get("holdout_value_per_1000"),
        baseline_value_per_1000=metrics.get("baseline_holdout_value_per_1000"),
        lineage={k.removeprefix("flywheel."): v for k, v in tags.items() if k.startswith("flywheel.")},
        segment_checks=tuple((c.name, c.passed) for c in verdict.checks if c.name.startswith("segment:")),
        segments_measured=sum(k.endswith(".rows") and v >= spec.gates.min_segment_rows for k, v in metrics.items()),
        cv_metric=None if tags.get("flywheel.retrain_strategy") == "warm_start" else metrics.get("cv_primary_metric"),
        holdout_metric=verdict.challenger_metric,
        higher_is_better=metric.higher_is_better,
        max_drop=spec.gates.max_drop_vs_champion,
        champion=champion if champion != version else None,
        canary_stages="[" + ", ".join(spec.canary.stage_label(i) for i in range(len(spec.canary.stages))) + "]",
        deadline_hours=spec.canary.deadline_hours,
        monitoring_policy=_monitoring_policy(workspace, name),
        cost_recorded="training_cpu_seconds" in metrics,
        disparity_gap=metrics.get("holdout_max_disparity_gap"),
        max_disparity=spec.gates.max_disparity,
        intended_use=INTENDED_USE in card,
    )


def apply_checklist(workspace: Workspace, name: str, version: str, verdict: gate.Verdict) -> list[Item]:
    """Judge the checklist, block the blessing on a failed required item, write it into the model card."""
    client = workspace.registry.mlflow
    run_id = client.get_model_version(name, version).run_id
    card = _card(client, run_id)
    items = checklist(gather(workspace, name, version, verdict, card))
    for item in items:
        if item.blocks:
            detail = f"pre-production checklist: {item.name} failed ({item.evidence})"
            verdict.checks.append(gate.Check(f"checklist:{item.name}", False, None, None, detail))
    verdict.blessed = all(c.passed for c in verdict.checks)
    _complete_card(client, run_id, card, items)
    rows = [[item.name, item.status if item.required else f"{item.status} (advisory)", item.evidence] for item in items]
    client.set_model_version_tag(name, version, TAG, json.dumps(rows))
    return items


def recorded(workspace: Workspace, name: str, version: str) -> list[tuple[str, str, str]]:
    """The checklist the gate recorded on ``version`` (empty for a version gated before it existed)."""
    tags = workspace.registry.version(name, version).tags
    return [(str(a), str(b), str(c)) for a, b, c in json.loads(tags.get(TAG) or "[]")]


def _card(client: Any, run_id: str) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        return Path(client.download_artifacts(run_id, CARD, folder)).read_text()


def _complete_card(client: Any, run_id: str, card: str, items: list[Item]) -> None:
    """The card gets the checklist as its section (replaced, not repeated, if the gate runs again)."""
    card = _SECTION.sub("", card).rstrip("\n") + "\n\n" + "\n".join(as_markdown(items))
    client.log_text(run_id, card, CARD)
