"""The canary of one model: start it for a blessed challenger, judge it on live evidence, act on the decision.

Gathering (the prediction log of both arms since the step began, with the labels published so far) and acting
(moving the traffic share, promoting, rolling back, writing the ledger) happen here; the decision itself is
``flywheel.decisions.canary.decide``, a pure function of the evidence, the state, the policy and the time.

Also the manual path for people (``flywheel promote`` / ``flywheel rollback``), recorded in the same ledger.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from flywheel.core import comparison
from flywheel.core.canary import CanaryState
from flywheel.core.clock import iso_seconds, naive_utc, utc_now
from flywheel.core.tasks import primary_metric
from flywheel.data import predictions
from flywheel.decisions import canary
from flywheel.jobs.approval import request_approval
from flywheel.registry import canary_state, gate, ledger
from flywheel.registry.promote import PromotionError, promote, rollback
from flywheel.serving.routing import CHALLENGER_ARM, CHAMPION_ARM, SHADOW_ARM
from flywheel.specs import ModelSpec
from flywheel.workspace import Workspace

log = logging.getLogger(__name__)

StepAction = Literal["none", "started", "wait", "advance", "promote", "rollback", "await_approval"]


@dataclass(frozen=True)
class CanaryStep:
    """What one canary run did: started a canary, judged it (and acted), or found nothing to do."""

    action: StepAction
    reason: str
    version: str | None = None
    step: int | None = None  # the traffic step the evidence was gathered at
    checks: tuple[str, ...] = ()
    evidence: canary.Evidence | None = None
    approval: dict[str, str] | None = None  # await_approval: the request's subject and body, for the person

    def to_dict(self) -> dict[str, object]:
        """For XCom and logs: JSON-ready."""
        return {
            "action": self.action,
            "reason": self.reason,
            "version": self.version,
            "step": self.step,
            "checks": list(self.checks),
            "evidence": None if self.evidence is None else self.evidence.to_dict(),
            "approval": self.approval,
        }


def collect_predictions(workspace: Workspace, name: str, labels_until: datetime | None = None) -> dict[str, int]:
    """Load new prediction log files and publish the labels known by ``labels_until`` (default: now)."""
    rows = predictions.load_prediction_files(name, workspace.store("predictions"), workspace.warehouse)
    until = naive_utc(labels_until or utc_now())
    labels = predictions.publish_labels(workspace.spec(name), workspace.warehouse, until)
    return {"prediction_rows": rows, "labels": labels}


def _as_of(now: datetime | None) -> datetime:
    """The time of the data being judged: what the orchestration passes (a replay's replayed time, a DAG run's
    data interval end), else now. Aware UTC."""
    return (now if now.tzinfo else now.replace(tzinfo=UTC)) if now else utc_now()


def _stage_fields(spec: ModelSpec, stage: int, now: datetime) -> dict[str, object]:
    """The state tags of a stage that begins at ``now`` (the data's time)."""
    return {
        "step": stage,
        "share": spec.canary.share(stage),
        "shadow": spec.canary.is_shadow(stage),
        "step_started_at": iso_seconds(now),
        "logged_from": iso_seconds(),  # the log's clock: rows from here on were served under this routing
    }


def _gate_comparison(tags: Mapping[str, str], champion: str) -> comparison.Comparison | None:
    """The gate's paired comparison, if the version was gated against today's champion."""
    if tags.get(gate.GATED_AGAINST_TAG) != champion:
        return None
    return comparison.from_record(json.loads(tags.get(gate.GATE_PAIRED_TAG) or "null"))


def start_canary(workspace: Workspace, name: str, actor: str, now: datetime | None = None) -> CanaryState:
    """Put a blessed @challenger on the first stage against today's @champion, at ``now`` (the data's time)."""
    spec, registry = workspace.spec(name), workspace.registry
    challenger, champion = registry.challenger(name), registry.champion(name)
    if challenger is None or champion is None:
        raise PromotionError(f"{name}: a canary needs @champion and @challenger (have v{champion}, v{challenger})")
    version = registry.version(name, challenger)
    if not version.blessed:
        raise PromotionError(f"{name} v{challenger} has no blessing: only a blessed version enters the canary")
    as_of = _as_of(now)
    gate_evidence = _gate_comparison(version.tags, champion)
    served_is_evaluated = spec.split.final_fit == "train"  # else the gate compared a model that will not serve
    settled, why = canary.settled_by_gate(spec.canary, spec.gates.primary_metric, gate_evidence, served_is_evaluated)
    first_stage = 1 if settled and len(spec.canary.stages) > 1 else 0
    canary_state.write(
        registry.mlflow,
        name,
        challenger,
        status="running",
        started_at=iso_seconds(as_of),
        champion=champion,
        **_stage_fields(spec, first_stage, as_of),
    )
    first = (
        f"at {spec.canary.stage_label(first_stage)}: {why}"
        if first_stage
        else "in shadow (scores every record beside the champion, answers none)"
        if spec.canary.has_shadow
        else f"{spec.canary.share(0):.0%} of traffic"
    )
    ledger.record(
        workspace.warehouse,
        ledger.LedgerEntry(
            name,
            challenger,
            "canary_started",
            actor,
            f"{first} against champion v{champion}",
            {
                "stages": list(spec.canary.stages),
                "champion": champion,
                "as_of": iso_seconds(as_of),
                "gate_comparison": None if gate_evidence is None else asdict(gate_evidence),
                "gate_settles_shadow": settled,
            },
        ),
    )
    return canary_state.read(registry.mlflow, name, challenger)


def current_evidence(workspace: Workspace, name: str) -> tuple[CanaryState, canary.Evidence | None]:
    """The running canary's state and the evidence of both arms since its current step began."""
    spec, state = workspace.spec(name), workspace.registry.canary(name)
    if not state.running:
        return state, None
    mark = state.logged_from or state.step_started_at
    since = naive_utc(datetime.fromisoformat(mark)) if mark else None
    challenger_arm = SHADOW_ARM if state.shadow else CHALLENGER_ARM
    frames = [
        predictions.arm_predictions(workspace.warehouse, name, v or "", arm, since)
        for v, arm in ((state.champion, CHAMPION_ARM), (state.version, challenger_arm))
    ]
    return state, canary.gather(spec.canary, frames[0], frames[1], state, primary_metric(spec))


def analyse_canary(workspace: Workspace, name: str, actor: str, now: datetime | None = None) -> CanaryStep:
    """Start the canary of a new blessed challenger, or judge the running one and act; returns what it did.

    ``now`` is the time of the data being judged (default: now): every time rule (bake, deadline) reads it."""
    now = _as_of(now)
    registry = workspace.registry
    challenger = registry.challenger(name)
    state = registry.canary(name)
    if challenger is not None and state.status == "rolled_back":  # a rollback cut short before the alias went
        reason = "finishing an interrupted rollback (@challenger was still set)"
        rollback(name, actor, reason, registry.mlflow, workspace.warehouse, workspace.settings)
        return CanaryStep("rollback", reason, challenger)
    if challenger is None or state.status == "promoted":
        return CanaryStep("none", "no challenger waiting for a canary")
    if not state.running:
        if not registry.version(name, challenger).blessed:
            return CanaryStep("none", f"v{challenger} is not blessed: it cannot enter the canary")
        state = start_canary(workspace, name, actor, now)
        stage = workspace.spec(name).canary.stage_label(state.step)
        return CanaryStep("started", f"v{challenger} at {stage}", challenger, state.step)
    state, evidence = current_evidence(workspace, name)
    if evidence is None:  # a running canary always has evidence; none means its state was lost
        raise RuntimeError(f"{name}: a canary is running but its evidence cannot be gathered")
    decision = canary.decide(workspace.spec(name).canary, state, evidence, now)
    if decision.action == canary.PROMOTE and workspace.spec(name).canary.approval.required:
        request = request_approval(workspace, name, state, decision, evidence, actor, now)
        step = CanaryStep("await_approval", decision.reason, challenger, state.step, decision.checks, evidence)
        return replace(step, approval=asdict(request))
    _apply(workspace, workspace.spec(name), state, decision, evidence, actor, now)
    return CanaryStep(decision.action, decision.reason, challenger, state.step, decision.checks, evidence)


def _apply(
    workspace: Workspace,
    spec: ModelSpec,
    state: CanaryState,
    decision: canary.CanaryDecision,
    evidence: canary.Evidence,
    actor: str,
    now: datetime,
) -> None:
    name, version = spec.name, str(state.version)
    client, warehouse, settings = workspace.registry.mlflow, workspace.warehouse, workspace.settings
    record = {
        "decision": decision.to_dict(),
        "evidence": evidence.to_dict(),
        "step": state.step,
        "stage": spec.canary.stage_label(state.step),
        "share": state.share,
        "as_of": iso_seconds(now),
    }
    if decision.action == canary.ADVANCE:
        step = state.step + 1
        canary_state.write(client, name, version, **_stage_fields(spec, step, now))
        ledger.record(
            warehouse,
            ledger.LedgerEntry(
                name,
                version,
                "canary_advanced",
                actor,
                f"to {spec.canary.stage_label(step)}: {decision.reason}",
                {**record, "new_share": spec.canary.share(step)},  # the deployment history's next share
            ),
        )
    elif decision.action == canary.PROMOTE:
        promote(
            name,
            version,
            actor,
            f"canary passed: {decision.reason}",
            client,
            warehouse,
            settings,
            expected_champion=state.champion,
            evidence=record,
        )
    elif decision.action == canary.ROLLBACK:
        rollback(name, actor, f"canary failed: {decision.reason}", client, warehouse, settings, evidence=record)
        log.error("ALERT %s v%s rolled back: %s", name, version, decision.reason)
    elif _new_wait(workspace, name, version, decision.reason):
        ledger.record(warehouse, ledger.LedgerEntry(name, version, "canary_wait", actor, decision.reason, record))
    log.info("%s v%s canary step %d: %s (%s)", name, version, state.step, decision.action, decision.reason)


def _new_wait(workspace: Workspace, name: str, version: str, reason: str) -> bool:
    """A wait is recorded once per reason: a canary tick (or a re-run) that learns nothing new adds no entry."""
    last = ledger.history(workspace.warehouse, name, limit=1)
    return not (
        last and last[0]["event"] == "canary_wait" and last[0]["version"] == version and last[0]["reason"] == reason
    )


def manual_promote(workspace: Workspace, name: str, version: str, actor: str, reason: str) -> bool:
    """A person moves @champion (a blessed version only), recorded like any promotion."""
    return promote(
        name, version, f"person:{actor}", reason, workspace.registry.mlflow, workspace.warehouse, workspace.settings
    )


def manual_rollback(workspace: Workspace, name: str, actor: str, reason: str) -> str | None:
    """A person removes @challenger (ending its canary), recorded like any rollback."""
    return rollback(name, f"person:{actor}", reason, workspace.registry.mlflow, workspace.warehouse, workspace.settings)
