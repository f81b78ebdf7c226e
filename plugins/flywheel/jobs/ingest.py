"""Landing -> raw for every source with a landing contract."""

from __future__ import annotations

import logging

from flywheel.data.warehouse import open_warehouse
from flywheel.ingest.contract import load_contracts
from flywheel.ingest.load import IngestReport, ingest_landing
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
