"""The prediction log's schema, once: what the service writes to its Parquet files and what the warehouse keeps.

One row per scored record, API or batch; the canary and the monitor join it to the labels by entity id.
"""

from __future__ import annotations

# Column -> SQL type (portable between DuckDB and PostgreSQL), in file order.
SCHEMA: dict[str, str] = {
    "request_id": "varchar",
    "entity_id": "varchar",
    "model": "varchar",
    "version": "varchar",
    "arm": "varchar",  # champion | challenger
    "score": "double precision",  # positive-class probability, the predicted value, or the decided class's probability
    "decision": "integer",  # 1/0 at the business threshold; a multiclass decided class's index; null for a regressor
    "latency_ms": "double precision",
    "status": "varchar",  # ok | error
    "source": "varchar",  # api | batch
    "predicted_at": "timestamp",
    "features": "varchar",  # the request's features as JSON
    "class_scores": "varchar",  # multiclass: every class's probability as a JSON list, in the spec's order; else null
}

# Columns added after the first release, with their type: a log table made before gains them (flywheel.data), a
# log file written before reads them as null.
ADDED: dict[str, str] = {"class_scores": "varchar"}

COLUMNS: list[str] = list(SCHEMA)


def table_columns(*extra: tuple[str, str]) -> str:
    """``name type, ...`` for a CREATE TABLE of the log, with ``extra`` columns after the schema's."""
    return ", ".join(f"{name} {kind}" for name, kind in [*SCHEMA.items(), *extra])
