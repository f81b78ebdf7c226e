"""A person's approval of a promotion the canary earned (``canary.approval.required``): ask, then act on the answer.

The canary job calls ``request_approval`` where it would promote: the request (its evidence, the model card's
links) is recorded once in the ledger and returned for Airflow's human-in-the-loop task to show. That task waits
for Approve or Reject in Airflow's UI or REST API; ``settle_approval`` then promotes or rolls back with the
person's name and reason in the ledger. What an answer decides is ``flywheel.decisions.approval``."""

from __future__ import annotations

import logging
from datetime import datetime

from flywheel.core.canary import CanaryState
from flywheel.core.clock import iso_seconds
from flywheel.decisions import approval, canary
from flywheel.jobs import checklist
from flywheel.registry import canary_state, ledger
from flywheel.registry.promote import promote, rollback
from flywheel.workspace import Workspace

log = logging.getLogger(__name__)

REQUESTED = "approval_requested"


def _facts(decision: canary.CanaryDecision, evidence: canary.Evidence) -> dict[str, object]:
    """The numbers a person weighs, one row each."""
    arms = {"champion": evidence.champion, "challenger": evidence.challenger}
    facts: dict[str, object] = {"stage": evidence.stage, "since": evidence.since, "design": evidence.design}
    for role, arm in arms.items():
        facts[f"{role} v{arm.version} {evidence.metric}"] = arm.metric
        facts[f"{role} labelled / records"] = f"{arm.labelled:,} / {arm.records:,}"
        facts[f"{role} p95 latency ms"] = arm.p95_latency_ms
    facts[f"advantage ({evidence.metric})"] = evidence.difference
    facts["interval"] = None if evidence.interval is None else " .. ".join(f"{v:.4g}" for v in evidence.interval)
    facts["smallest drop detectable"] = evidence.mde
    facts["checks"] = "; ".join(decision.checks) or "-"
    return {k: v for k, v in facts.items() if v is not None}


def _links(workspace: Workspace, name: str, version: str) -> dict[str, str]:
    """Where the model card and the run are: the MLflow UI for a tracking server, the artifact folder otherwise."""
    model_version = workspace.registry.mlflow.get_model_version(name, version)
    uri = str(workspace.settings.mlflow_tracking_uri)
    if uri.startswith("http"):
        return {
            "model version in MLflow": f"{uri}/#/models/{name}/versions/{version}",
            "model card": f"{uri}/#/experiments/0/runs/{model_version.run_id}/artifacts/model_card.md",
        }
    return {"model card (MLflow run artifact)": f"runs:/{model_version.run_id}/model_card.md"}


def request_approval(
    workspace: Workspace,
    name: str,
    state: CanaryState,
    decision: canary.CanaryDecision,
    evidence: canary.Evidence,
    actor: str,
    now: datetime,
) -> approval.ApprovalRequest:
    """Ask for a person's approval of ``state.version``'s promotion: recorded once (a later canary run that finds
    the same verdict asks nothing new), returned for the human-in-the-loop task."""
    spec, version = workspace.spec(name), str(state.version)
    request = approval.request(
        name,
        version,
        state.champion,
        decision.reason,
        _facts(decision, evidence),
        spec.canary.approval,
        links=_links(workspace, name, version),
        checklist=checklist.recorded(workspace, name, version),
    )
    if ledger.last_event(workspace.warehouse, name, version) != REQUESTED:
        canary_state.write(workspace.registry.mlflow, name, version, approval="requested")
        evidence_record = {
            "as_of": iso_seconds(now),
            "decision": decision.to_dict(),
            "evidence": evidence.to_dict(),
            "timeout_hours": spec.canary.approval.timeout_hours,
            "on_timeout": spec.canary.approval.on_timeout,
        }
        ledger.record(
            workspace.warehouse,
            ledger.LedgerEntry(name, version, REQUESTED, actor, f"canary passed: {decision.reason}", evidence_record),
        )
        log.warning("%s v%s: promotion waits for a person's approval (%s)", name, version, request.subject)
    return request


def settle_approval(
    workspace: Workspace, name: str, version: str, answer: approval.ApprovalAnswer, now: datetime
) -> str:
    """Promote or roll back ``version`` as the answer says; returns what was done (``promoted``, ``rolled_back``
    or ``none`` when the canary moved on meanwhile: a rollback on worse evidence, or another promotion)."""
    registry, spec = workspace.registry, workspace.spec(name)
    state = registry.canary(name)
    if registry.challenger(name) != version or not state.running:
        log.warning("%s v%s: the answer came after its canary ended (%s): nothing to do", name, version, state.status)
        return "none"
    decided = approval.outcome(spec.canary.approval, answer)
    evidence = {
        "as_of": iso_seconds(now),
        "answer": {"chosen": list(answer.chosen), "reason": answer.reason, "responded_by": answer.responded_by},
    }
    client, warehouse, settings = registry.mlflow, workspace.warehouse, workspace.settings
    if decided.promote:
        promote(
            name,
            version,
            decided.actor,
            decided.reason,
            client,
            warehouse,
            settings,
            expected_champion=state.champion,
            evidence=evidence,
        )
        return "promoted"
    rollback(name, decided.actor, decided.reason, client, warehouse, settings, evidence=evidence)
    return "rolled_back"
