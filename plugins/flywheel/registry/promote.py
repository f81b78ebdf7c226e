"""The only path by which ``@champion`` moves: checks the blessing, serialises, writes the ledger."""

from __future__ import annotations

import logging
from typing import Any

from filelock import FileLock

from flywheel.data.warehouse import Warehouse
from flywheel.registry import ledger
from flywheel.registry.gate import BLESSED_TAG
from flywheel.registry.register import CHALLENGER, CHAMPION, alias_version
from flywheel.settings import Settings

log = logging.getLogger(__name__)

_UNSET = object()


class PromotionError(RuntimeError):
    pass


def promote(
    name: str,
    version: str,
    actor: str,
    reason: str,
    mlflow_client: Any,
    warehouse: Warehouse,
    settings: Settings,
    expected_champion: Any = _UNSET,
) -> bool:
    """Move @champion to ``version``; returns False if it already was. ``expected_champion`` guards against a
    champion that moved since the caller gathered its evidence (MLflow aliases have no compare-and-set)."""
    if not reason.strip():
        raise PromotionError("a promotion needs a reason")
    lock_dir = settings.home / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    # One promotion per model at a time on this machine; multi-host deployments serialise on an Airflow pool.
    with FileLock(str(lock_dir / f"promote-{name}.lock"), timeout=60):
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
        ledger.record(
            warehouse, ledger.LedgerEntry(name, version, "promoted", actor, reason, {"previous_champion": current})
        )
        log.info("%s: @%s moved v%s -> v%s by %s (%s)", name, CHAMPION, current, version, actor, reason)
        return True
