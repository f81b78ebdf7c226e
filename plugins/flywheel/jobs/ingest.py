"""Landing -> raw for every source with a landing contract; the replay that feeds landing in the demo."""

from __future__ import annotations

import logging

from flywheel.data.warehouse import open_warehouse
from flywheel.ingest.contract import load_contracts
from flywheel.ingest.load import IngestReport, ingest_landing
from flywheel.ingest.replay import dataset_months, land_months
from flywheel.settings import Settings, get_settings
from flywheel.storage import open_store

log = logging.getLogger(__name__)


def ingest_all(settings: Settings | None = None) -> list[IngestReport]:
    settings = settings or get_settings()
    landing = open_store(settings.landing_uri, settings.s3_endpoint_url)
    archive = open_store(settings.archive_uri, settings.s3_endpoint_url)
    quarantine = open_store(settings.quarantine_uri, settings.s3_endpoint_url)
    warehouse = open_warehouse(settings)
    reports = [
        ingest_landing(c, landing, archive, quarantine, warehouse) for c in load_contracts(settings.dbt_project_dir)
    ]
    for report in reports:
        log.info(
            "%s: %d files loaded (%d rows), %d already loaded, %d quarantined",
            report.table,
            len(report.by_status("loaded")),
            report.loaded_rows,
            len(report.by_status("already_loaded")),
            len(report.by_status("quarantined")),
        )
    return reports


def replay_months(
    first: str | None, last: str | None, settings: Settings | None = None, tables: list[str] | None = None
) -> list[str]:
    """Land the bundled datasets' months in [first, last] as batch files (only ``tables``' datasets if given)."""
    settings = settings or get_settings()
    landing = open_store(settings.landing_uri, settings.s3_endpoint_url)
    return [
        name
        for c in load_contracts(settings.dbt_project_dir)
        if tables is None or c.qualified_table in tables
        for name in land_months(c, settings.project_dir, landing, first, last)
    ]


def model_sources(name: str, settings: Settings | None = None) -> list[str]:
    """The landed raw tables a model's mart is built from (dbt lineage), e.g. ``['raw.hotel_bookings']``; sources
    Flywheel keeps itself (the personal-data key, ``ops.pii_key``) are not landed, so not listed."""
    from flywheel.monitoring.upstream import source_tables
    from flywheel.specs import load_spec

    settings = settings or get_settings()
    spec = load_spec(settings.models_dir / f"{name}.yaml")
    landed = {c.qualified_table for c in load_contracts(settings.dbt_project_dir)}
    return [t for t in source_tables(settings.dbt_manifest_path, spec.source.mart) if t in landed]


def model_months(tables: list[str], settings: Settings | None = None) -> list[str]:
    """The months the bundled data of these raw tables covers, in order: what the demo can replay for a model."""
    settings = settings or get_settings()
    contracts = [c for c in load_contracts(settings.dbt_project_dir) if c.qualified_table in tables]
    return sorted({m for c in contracts for m in dataset_months(c, settings.project_dir)})
