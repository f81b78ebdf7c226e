"""The only path by which ``@champion`` moves: checks the blessing, serialises, writes the ledger."""

from __future__ import annotations

import logging
from typing import Any

from flywheel.data.warehouse import Warehouse
from flywheel.registry import artifacts, canary_state, ledger
from flywheel.registry.client import BLESSED_TAG
from flywheel.registry.lock import registry_lock
from flywheel.registry.register import CHALLENGER, CHAMPION, alias_version
from flywheel.settings import Settings

log = logging.getLogger(__name__)

_UNSET = object()


class PromotionError(RuntimeError):
    pass


def rollback(
    name: str,
    actor: str,
    reason: str,
    mlflow_client: Any,
    warehouse: Warehouse,
    settings: Settings,
    evidence: dict[str, Any] | None = None,
) -> str | None:
    """Remove @challenger (the champion keeps serving); returns the version rolled back, None if there was none.

    Each step is safe to repeat and the alias goes last, so a run killed anywhere in here leaves @challenger set
    and its retry finishes the rollback: traffic leaves the challenger first (canary share 0), then the ledger
    entry (once), then the alias. A canary run that finds @challenger on a rolled-back version calls this again."""
    if not reason.strip():
        raise PromotionError("a rollback needs a reason")
    with registry_lock(name, settings):
        version = alias_version(mlflow_client, name, CHALLENGER)
        if version is None:
            log.info("%s: no @challenger to roll back", name)
            return None
        canary_state.write(mlflow_client, name, version, status="rolled_back", share=0)
        if ledger.last_event(warehouse, name, version) != "rolled_back":
            ledger.record(warehouse, ledger.LedgerEntry(name, version, "rolled_back", actor, reason, evidence or {}))
        mlflow_client.delete_registered_model_alias(name, CHALLENGER)
        log.warning("%s: v%s rolled back by %s: %s", name, version, actor, reason)
        return version


def promote(
    name: str,
    version: str,
    actor: str,
    reason: str,
    mlflow_client: Any,
    warehouse: Warehouse,
    settings: Settings,
    expected_champion: Any = _UNSET,
    evidence: dict[str, Any] | None = None,
) -> bool:
    """Move @champion to ``version``; returns False if it already was. ``expected_champion`` guards against a
    champion that moved since the caller gathered its evidence (MLflow aliases have no compare-and-set)."""
    if not reason.strip():
        raise PromotionError("a promotion needs a reason")
    with registry_lock(name, settings):
        tags = mlflow_client.get_model_version(name, version).tags
        if tags.get(BLESSED_TAG) != "true":
            raise PromotionError(
                f"{name} v{version} has no blessing (tag {BLESSED_TAG}={tags.get(BLESSED_TAG)!r}): run the gate first"
            )
        current = alias_version(mlflow_client, name, CHAMPION)
        if current == version:
            # Already done, perhaps by an attempt killed after moving the alias: finish what it left undone.
            previous = ledger.last_promoted(warehouse, name)
            if previous != version:
                reason = f"{reason} (recorded by a retry: the alias had moved, the ledger entry was missing)"
                _finish(name, version, actor, reason, previous, evidence, mlflow_client, warehouse)
            log.info("%s: v%s is already @%s", name, version, CHAMPION)
            return False
        if expected_champion is not _UNSET and current != expected_champion:
            raise PromotionError(
                f"{name}: @champion is v{current}, not v{expected_champion} as the evidence assumed; gather it again"
            )
        try:  # a blessing is for the files that were gated: missing or changed files void it
            artifacts.verify(mlflow_client, name, version)
        except artifacts.ArtifactError as exc:
            raise PromotionError(str(exc)) from exc
        mlflow_client.set_registered_model_alias(name, CHAMPION, version)
        _finish(name, version, actor, reason, current, evidence, mlflow_client, warehouse)
        log.info("%s: @%s moved v%s -> v%s by %s (%s)", name, CHAMPION, current, version, actor, reason)
        return True


def _finish(
    name: str,
    version: str,
    actor: str,
    reason: str,
    previous: str | None,
    evidence: dict[str, Any] | None,
    mlflow_client: Any,
    warehouse: Warehouse,
) -> None:
    """What follows the alias move: end the challenger's role and canary, then the ledger entry (last, so the ledger
    never records a promotion that did not happen; a retry writes it if a kill came in between)."""
    if alias_version(mlflow_client, name, CHALLENGER) == version:
        mlflow_client.delete_registered_model_alias(name, CHALLENGER)
    if canary_state.read(mlflow_client, name, version).running:
        canary_state.write(mlflow_client, name, version, status="promoted", share=0)
    ledger.record(
        warehouse,
        ledger.LedgerEntry(
            name, version, "promoted", actor, reason, {"previous_champion": previous, **(evidence or {})}
        ),
    )
