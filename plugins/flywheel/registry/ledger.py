"""The model ledger: an append-only record of every gate verdict, promotion and rollback, with its evidence."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flywheel.data.warehouse import Warehouse, ensure_ops_table

LEDGER = "ops.model_ledger"


@dataclass(frozen=True)
class LedgerEntry:
    model: str
    version: str
    event: str  # blessed | rejected | promoted | rolled_back
    actor: str
    reason: str
    evidence: dict[str, Any]


def ensure_ledger(warehouse: Warehouse) -> None:
    ensure_ops_table(
        warehouse,
        LEDGER,
        "entry_id varchar, model varchar, version varchar, event varchar, actor varchar, reason varchar, "
        "evidence varchar, recorded_at timestamp",
    )


def record(warehouse: Warehouse, entry: LedgerEntry) -> str:
    ensure_ledger(warehouse)
    entry_id = uuid.uuid4().hex
    warehouse.execute(
        f"insert into {LEDGER} values (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry_id,
            entry.model,
            entry.version,
            entry.event,
            entry.actor,
            entry.reason,
            json.dumps(entry.evidence, default=str, sort_keys=True),
            datetime.now(UTC).replace(tzinfo=None),
        ),
    )
    return entry_id


def last_promoted(warehouse: Warehouse, model: str) -> str | None:
    """The version of the model's latest promotion in the ledger, if any."""
    ensure_ledger(warehouse)
    rows = warehouse.fetch_all(
        f"select version from {LEDGER} where model = ? and event = 'promoted' order by recorded_at desc limit 1",
        (model,),
    )
    return str(rows[0][0]) if rows else None


def last_event(warehouse: Warehouse, model: str, version: str) -> str | None:
    """The latest ledger event of one version, if any."""
    ensure_ledger(warehouse)
    rows = warehouse.fetch_all(
        f"select event from {LEDGER} where model = ? and version = ? order by recorded_at desc limit 1",
        (model, version),
    )
    return str(rows[0][0]) if rows else None


def history(warehouse: Warehouse, model: str, limit: int = 20) -> list[dict[str, Any]]:
    ensure_ledger(warehouse)
    frame = warehouse.query_df(
        f"select * from {LEDGER} where model = ? order by recorded_at desc limit {int(limit)}", (model,)
    )
    return frame.to_dict("records")
