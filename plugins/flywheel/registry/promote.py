"""The only path by which ``@champion`` moves: checks the blessing, serialises, writes the ledger."""

from __future__ import annotations

import logging
from typing import Any

from filelock import FileLock

from flywheel.data.warehouse import Warehouse
from flywheel.registry import canary_state, ledger
from flywheel.registry.gate import BLESSED_TAG
from flywheel.registry.register import CHALLENGER, CHAMPION, alias_version
from flywheel.settings import Settings

log = logging.getLogger(__name__)

_UNSET = object()


class PromotionError(RuntimeError):
    pass


def promotion_lock(name: str, settings: Settings) -> FileLock:
    """One alias change per model at a time (MLflow aliases have no compare-and-set). A file lock serialises the
    processes of one host; a multi-host deployment also runs canary DAGs with max_active_runs=1."""
    lock_dir = settings.home / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock_dir / f"promote-{name}.lock"), timeout=60)


def rollback(
    name: str,
    actor: str,
    reason: str,
    mlflow_client: Any,
    warehouse: Warehouse,
    settings: Settings,
    evidence: dict[str, Any] | None = None,
) -> str | None:
    """Remove @challenger (the champion keeps serving); returns the version rolled back, None if there was none."""
    if not reason.strip():
        raise PromotionError("a rollback needs a reason")
    with promotion_lock(name, settings):
        version = alias_version(mlflow_client, name, CHALLENGER)
        if version is None:
            log.info("%s: no @challenger to roll back", name)
            return None
        mlflow_client.delete_registered_model_alias(name, CHALLENGER)
        canary_state.write(mlflow_client, name, version, status="rolled_back", share=0)
        ledger.record(warehouse, ledger.LedgerEntry(name, version, "rolled_back", actor, reason, evidence or {}))
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
    with promotion_lock(name, settings):
        tags = mlflow_client.get_model_version(name, version).tags
        if tags.get(BLESSED_TAG) != "true":
            raise PromotionError(
                f"{name} v{version} has no blessing (tag {BLESSED_TAG}={tags.get(BLESSED_TAG)!r}): run the gate first"
            )
        current = alias_version(mlflow_client, name, CHAMPION)
        if expected_champion is not _UNSET and current != expected_champion:
            raise PromotionError(
                f"{name}: @champion is v{current}, not v{expected_champion} as the evidence assumed; gather it again"
            )
        if current == version:
            log.info("%s: v%s is already @%s", name, version, CHAMPION)
            return False
        mlflow_client.set_registered_model_alias(name, CHAMPION, version)
        if alias_version(mlflow_client, name, CHALLENGER) == version:
            mlflow_client.delete_registered_model_alias(name, CHALLENGER)
        if canary_state.read(mlflow_client, name, version).running:
            canary_state.write(mlflow_client, name, version, status="promoted", share=0)
        ledger.record(
            warehouse,
            ledger.LedgerEntry(
                name, version, "promoted", actor, reason, {"previous_champion": current, **(evidence or {})}
            ),
        )
        log.info("%s: @%s moved v%s -> v%s by %s (%s)", name, CHAMPION, current, version, actor, reason)
        return True
