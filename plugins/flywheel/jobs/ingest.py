"""Landing -> raw for every source with a landing contract."""

from __future__ import annotations

import logging

from flywheel.ingest.contract import load_contracts
from flywheel.ingest.load import IngestReport, ingest_landing
from flywheel.workspace import Workspace

log = logging.getLogger(__name__)


def ingest_all(workspace: Workspace) -> list[IngestReport]:
    landing, archive, quarantine = workspace.store("landing"), workspace.store("archive"), workspace.store("quarantine")
    reports = [
        ingest_landing(c, landing, archive, quarantine, workspace.warehouse)
        for c in load_contracts(workspace.settings.dbt_project_dir)
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
