"""Every Asset that chains Flywheel's DAGs, in one module: the data flow reads from here.

ingest ──raw.<table>──> transform ──marts.<mart> (validated)──> train__<model> (first model only)
                                                          └──> score__<model>
monitor__<model> (scheduled) ──<model>/retrain (reason in the event)──> train__<model> ──<model>@challenger──> (canary)
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset


def raw_table(qualified_table: str) -> Asset:
    """A raw table got new rows (emitted by ``ingest``)."""
    schema, table = qualified_table.split(".", 1)
    return Asset(name=qualified_table, uri=f"flywheel://warehouse/{schema}/{table}", group="raw")


def raw_tables(dbt_project_dir: Path) -> list[Asset]:
    """One Asset per raw table with a landing contract in the dbt sources."""
    from flywheel.ingest.contract import load_contracts

    return [raw_table(c.qualified_table) for c in load_contracts(dbt_project_dir)]


def validated_mart(mart: str) -> Asset:
    """A mart was rebuilt and all its new partitions passed their suite (emitted by ``transform``)."""
    return Asset(name=f"marts.{mart}", uri=f"flywheel://warehouse/marts/{mart}", group="marts")


def challenger(model: str) -> Asset:
    """A new version of ``model`` was registered and gated (emitted by ``train__<model>``)."""
    return Asset(name=f"{model}@challenger", uri=f"flywheel://registry/{model}/challenger", group="models")


def retrain_requested(model: str) -> Asset:
    """The monitor's policy asks for a new version of ``model``; the event's extra carries the reason (emitted by
    ``monitor__<model>``, consumed by ``train__<model>``)."""
    return Asset(name=f"{model}/retrain", uri=f"flywheel://policy/{model}/retrain", group="models")
