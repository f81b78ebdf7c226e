"""Figures for people: rows per stage, validation results, and each model's aliases and metrics."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from flywheel.data.warehouse import Warehouse
from flywheel.registry import ledger, register, tracking
from flywheel.settings import Settings


def stage_tables(settings: Settings) -> list[str]:
    """Raw tables (from the landing contracts), then every dbt model's relation in the parsed manifest's order."""
    from flywheel.ingest.contract import load_contracts

    tables = [c.qualified_table for c in load_contracts(settings.dbt_project_dir)]
    if settings.dbt_manifest_path.is_file():
        nodes = json.loads(settings.dbt_manifest_path.read_text())["nodes"].values()
        models = [n for n in nodes if n["resource_type"] == "model"]
        layer = {"staging": 0, "intermediate": 1, "marts": 2}
        models.sort(key=lambda n: (layer.get(n["schema"], 9), n["name"]))
        tables += [f"{n['schema']}.{n.get('alias') or n['name']}" for n in models]
    return tables


def stage_rows(settings: Settings, warehouse: Warehouse) -> dict[str, int | None]:
    counts: dict[str, int | None] = {}
    for table in stage_tables(settings):
        schema, name = table.split(".")
        counts[table] = (
            int(warehouse.fetch_all(f"select count(*) from {table}")[0][0])
            if warehouse.table_exists(schema, name)
            else None
        )
    return counts


def ingest_files(warehouse: Warehouse) -> pd.DataFrame:
    if not warehouse.table_exists("ops", "ingested_files"):
        return pd.DataFrame(columns=["status", "files", "rows"])
    return warehouse.query_df(
        "select status, count(*) as files, sum(row_count) as rows from ops.ingested_files group by status "
        "order by status"
    )


def validation(warehouse: Warehouse) -> pd.DataFrame:
    if not warehouse.table_exists("ops", "validated_partitions"):
        return pd.DataFrame(columns=["mart", "passed", "failed", "rows"])
    return warehouse.query_df(
        "select mart, sum(case when success then 1 else 0 end) as passed, "
        "sum(case when success then 0 else 1 end) as failed, sum(row_count) as rows "
        "from ops.validated_partitions group by mart order by mart"
    )


@dataclass
class ModelStatus:
    name: str
    champion: str | None
    challenger: str | None
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    segments: pd.DataFrame | None = None
    artifact_uri: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def model_status(name: str, settings: Settings, warehouse: Warehouse) -> ModelStatus:
    import mlflow

    client = tracking.client(settings)
    champion = register.alias_version(client, name, register.CHAMPION)
    status = ModelStatus(
        name,
        champion,
        register.alias_version(client, name, register.CHALLENGER),
        history=ledger.history(warehouse, name, limit=5),
    )
    shown = champion or status.challenger
    if shown is None:
        return status
    version = client.get_model_version(name, shown)
    run = client.get_run(version.run_id)
    status.run_id = version.run_id
    status.metrics = run.data.metrics
    status.params = run.data.params
    status.tags = {**run.data.tags, **version.tags}
    status.artifact_uri = run.info.artifact_uri
    csv = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/evaluation/segments.csv")
    status.segments = pd.read_csv(io.StringIO(csv))
    return status
