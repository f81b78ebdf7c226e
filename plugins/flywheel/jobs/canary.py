"""The canary of one model: start it for a blessed challenger, judge it on live evidence, act on the decision.

Also the manual path for people (``flywheel promote`` / ``flywheel rollback``), recorded in the same ledger.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from flywheel.data import predictions
from flywheel.data.warehouse import open_warehouse
from flywheel.registry import canary, canary_state, ledger, register, tracking
from flywheel.registry.gate import BLESSED_TAG
from flywheel.registry.promote import PromotionError, promote, rollback
from flywheel.settings import Settings, get_settings
from flywheel.specs import ModelSpec, load_spec
from flywheel.storage import open_store
from flywheel.training.tasks import primary_metric

log = logging.getLogger(__name__)


def _spec(name: str, settings: Settings) -> ModelSpec:
    return load_spec(settings.models_dir / f"{name}.yaml")


def collect_predictions(name: str, labels_until: datetime | None = None, settings: Settings | None = None) -> dict:
    """Load new prediction log files and publish the labels known by ``labels_until`` (default: now)."""
    settings = settings or get_settings()
    warehouse = open_warehouse(settings)
    rows = predictions.load_prediction_files(
        name, open_store(settings.predictions_uri, settings.s3_endpoint_url), warehouse
    )
    until = (labels_until or datetime.now(UTC)).replace(tzinfo=None)
    labels = predictions.publish_labels(_spec(name, settings), warehouse, until)
    return {"prediction_rows": rows, "labels": labels}


def start_canary(name: str, actor: str, settings: Settings | None = None) -> canary_state.CanaryState:
    """Put a blessed @challenger on the first traffic step against today's @champion."""
    settings = settings or get_settings()
    spec, client = _spec(name, settings), tracking.client(settings)
    challenger = register.alias_version(client, name, register.CHALLENGER)
    champion = register.alias_version(client, name, register.CHAMPION)
    if challenger is None or champion is None:
        raise PromotionError(f"{name}: a canary needs @champion and @challenger (have v{champion}, v{challenger})")
    if client.get_model_version(name, challenger).tags.get(BLESSED_TAG) != "true":
        raise PromotionError(f"{name} v{challenger} has no blessing: only a blessed version enters the canary")
    now = canary_state.now_iso()
    share = spec.canary.steps[0] / 100
    canary_state.write(
        client,
        name,
        challenger,
        status="running",
        step=0,
        share=share,
        started_at=now,
        step_started_at=now,
        champion=champion,
    )
    ledger.record(
        open_warehouse(settings),
        ledger.LedgerEntry(
            name,
            challenger,
            "canary_started",
            actor,
            f"{share:.0%} of traffic against champion v{champion}",
            {"steps": list(spec.canary.steps), "champion": champion},
        ),
    )
    return canary_state.read(client, name, challenger)


def current_evidence(name: str, settings: Settings) -> tuple[canary_state.CanaryState, canary.Evidence | None]:
    spec, client = _spec(name, settings), tracking.client(settings)
    state = canary_state.read(client, name, register.alias_version(client, name, register.CHALLENGER))
    if not state.running:
        return state, None
    warehouse = open_warehouse(settings)
    since = datetime.fromisoformat(state.step_started_at).replace(tzinfo=None) if state.step_started_at else None
    frames = [
        predictions.arm_predictions(warehouse, name, v, arm, since)
        for v, arm in ((state.champion, "champion"), (state.version, "challenger"))
    ]
    return state, canary.gather(spec.canary, frames[0], frames[1], state, primary_metric(spec))


def analyse_canary(
    name: str, actor: str, now: datetime | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Start the canary of a new blessed challenger, or judge the running one and act; returns the decision."""
    settings = settings or get_settings()
    spec, client = _spec(name, settings), tracking.client(settings)
    challenger = register.alias_version(client, name, register.CHALLENGER)
    state = canary_state.read(client, name, challenger)
    if challenger is not None and state.status == "rolled_back":  # a rollback cut short before the alias went
        reason = "finishing an interrupted rollback (@challenger was still set)"
        rollback(name, actor, reason, client, open_warehouse(settings), settings)
        return {"action": "rollback", "reason": reason, "version": challenger}
    if challenger is None or state.status == "promoted":
        return {"action": "none", "reason": "no challenger waiting for a canary"}
    if not state.running:
        if client.get_model_version(name, challenger).tags.get(BLESSED_TAG) != "true":
            return {"action": "none", "reason": f"v{challenger} is not blessed: it cannot enter the canary"}
        state = start_canary(name, actor, settings)
        return {"action": "started", "reason": f"v{challenger} at {state.share:.0%}", "version": challenger}
    state, evidence = current_evidence(name, settings)
    if evidence is None:  # a running canary always has evidence; none means its state was lost
        raise RuntimeError(f"{name}: a canary is running but its evidence cannot be gathered")
    decision = canary.decide(spec.canary, state, evidence, now)
    _apply(spec, state, decision, evidence, actor, settings)
    return {"version": challenger, "step": state.step, **asdict(decision), "evidence": evidence.to_dict()}


def _apply(
    spec: ModelSpec,
    state: canary_state.CanaryState,
    decision: canary.Decision,
    evidence: canary.Evidence,
    actor: str,
    settings: Settings,
) -> None:
    name, version = spec.name, str(state.version)
    client, warehouse = tracking.client(settings), open_warehouse(settings)
    record = {"decision": asdict(decision), "evidence": evidence.to_dict(), "step": state.step, "share": state.share}
    if decision.action == canary.ADVANCE:
        step = state.step + 1
        canary_state.write(
            client,
            name,
            version,
            step=step,
            share=spec.canary.steps[step] / 100,
            step_started_at=canary_state.now_iso(),
        )
        ledger.record(
            warehouse,
            ledger.LedgerEntry(
                name, version, "canary_advanced", actor, f"to {spec.canary.steps[step]:g} %: {decision.reason}", record
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
    elif _new_wait(warehouse, name, version, decision.reason):
        ledger.record(warehouse, ledger.LedgerEntry(name, version, "canary_wait", actor, decision.reason, record))
    log.info("%s v%s canary step %d: %s (%s)", name, version, state.step, decision.action, decision.reason)


def _new_wait(warehouse: Any, name: str, version: str, reason: str) -> bool:
    """A wait is recorded once per reason: a canary tick (or a re-run) that learns nothing new adds no entry."""
    last = ledger.history(warehouse, name, limit=1)
    return not (
        last and last[0]["event"] == "canary_wait" and last[0]["version"] == version and last[0]["reason"] == reason
    )


def manual_promote(name: str, version: str, actor: str, reason: str, settings: Settings | None = None) -> bool:
    """A person moves @champion (a blessed version only), recorded like any promotion."""
    settings = settings or get_settings()
    return promote(
        name, version, f"person:{actor}", reason, tracking.client(settings), open_warehouse(settings), settings
    )


def manual_rollback(name: str, actor: str, reason: str, settings: Settings | None = None) -> str | None:
    """A person removes @challenger (ending its canary), recorded like any rollback."""
    settings = settings or get_settings()
    return rollback(name, f"person:{actor}", reason, tracking.client(settings), open_warehouse(settings), settings)
