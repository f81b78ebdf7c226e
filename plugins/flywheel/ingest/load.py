"""Landing -> raw: load each new batch file once, archive it, quarantine it if it breaks the contract.

A batch is a landing file; its id is the file stem (``hotel_bookings_2016-01``). Loading is keyed by
(batch id, file sha256), so re-running never adds rows:

* the same bytes again: nothing is loaded, the file is archived (again);
* new bytes for a batch id already loaded (a corrected re-delivery): the batch's rows are replaced;
* a file that breaks the contract: moved to quarantine with ``reason.json``; the other files still load.

Order of steps makes a crash at any point safe to retry: rows are replaced in one transaction, then the ingest
log is written, then the file is copied to the archive and only then removed from landing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath

from flywheel.data.warehouse import Warehouse
from flywheel.ingest.checks import BatchRejected, parse_landed_file
from flywheel.ingest.contract import SourceContract
from flywheel.storage import Store, move

log = logging.getLogger(__name__)

INGEST_LOG = "ops.ingested_files"
PII_KEY = "ops.pii_key"


@dataclass(frozen=True)
class FileOutcome:
    file: str
    batch_id: str
    sha256: str
    status: str  # loaded | already_loaded | quarantined
    rows: int = 0
    location: str = ""
    reason: str = ""


@dataclass
class IngestReport:
    table: str
    outcomes: list[FileOutcome] = field(default_factory=list)

    def by_status(self, status: str) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def loaded_rows(self) -> int:
        return sum(o.rows for o in self.by_status("loaded"))


def ensure_pii_key(warehouse: Warehouse) -> None:
    """The warehouse's key for pseudonymising personal data in staging (dbt macro ``pseudonymize``), made once.

    It lives next to the raw data it protects: whoever can read it can read the raw personal data anyway, while
    readers of staging and marts see only keyed hashes, which a dictionary of e-mails or names cannot reverse."""
    warehouse.execute(f"create table if not exists {PII_KEY} (pii_key varchar)")
    if not warehouse.fetch_all(f"select 1 from {PII_KEY}"):
        warehouse.execute(f"insert into {PII_KEY} values (?)", (secrets.token_hex(32),))


def ensure_tables(warehouse: Warehouse, contract: SourceContract) -> None:
    warehouse.execute(f"create schema if not exists {contract.schema_name}")
    warehouse.execute("create schema if not exists ops")
    columns = ", ".join(f'"{name}" varchar' for name in contract.column_names)
    warehouse.execute(
        f"create table if not exists {contract.qualified_table} ({columns}, _batch_id varchar, "
        "_source_file varchar, _file_sha256 varchar, _row_number bigint, _loaded_at timestamp)"
    )
    # A column added to the contract later (an optional one) is added to the existing table.
    present = {
        row[0]
        for row in warehouse.fetch_all(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            (contract.schema_name, contract.table),
        )
    }
    for name in contract.column_names:
        if name not in present:
            warehouse.execute(f'alter table {contract.qualified_table} add column "{name}" varchar')
    ensure_pii_key(warehouse)
    warehouse.execute(
        f"create table if not exists {INGEST_LOG} (raw_table varchar, batch_id varchar, source_file varchar, "
        "file_sha256 varchar, status varchar, row_count bigint, location varchar, reason varchar, "
        "recorded_at timestamp)"
    )


def ingest_landing(
    contract: SourceContract, landing: Store, archive: Store, quarantine: Store, warehouse: Warehouse
) -> IngestReport:
    """Ingest every file in landing that belongs to ``contract``'s table."""
    ensure_tables(warehouse, contract)
    report = IngestReport(contract.qualified_table)
    for name in landing.list(contract.landing.file_glob):
        outcome = ingest_file(name, contract, landing, archive, quarantine, warehouse)
        log.info(
            "%s: %s (batch %s, %d rows) -> %s", name, outcome.status, outcome.batch_id, outcome.rows, outcome.location
        )
        report.outcomes.append(outcome)
    return report


def ingest_file(
    name: str, contract: SourceContract, landing: Store, archive: Store, quarantine: Store, warehouse: Warehouse
) -> FileOutcome:
    data = landing.read_bytes(name)
    sha = hashlib.sha256(data).hexdigest()
    batch_id = PurePosixPath(name).stem
    stored_name = f"{batch_id}/{sha[:16]}/{PurePosixPath(name).name}"

    if _already_loaded(warehouse, contract, batch_id, sha):
        location = move(landing, name, archive, stored_name)
        return FileOutcome(name, batch_id, sha, "already_loaded", 0, location)

    try:
        frame = parse_landed_file(name, data, contract)
    except BatchRejected as rejected:
        return _quarantine(name, batch_id, sha, stored_name, rejected, contract, landing, quarantine, warehouse)

    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    frame = frame.assign(
        _batch_id=batch_id,
        _source_file=PurePosixPath(name).name,
        _file_sha256=sha,
        _row_number=range(1, len(frame) + 1),
        _loaded_at=loaded_at,
    )
    warehouse.replace_rows(contract.qualified_table, frame, "_batch_id = ?", [batch_id])
    location = archive.uri(stored_name)
    # A corrected re-delivery replaced an earlier version of this batch: that version is no longer what is loaded.
    warehouse.execute(
        f"update {INGEST_LOG} set status = 'superseded' where raw_table = ? and batch_id = ? and status = 'loaded'",
        (contract.qualified_table, batch_id),
    )
    _record(warehouse, contract, batch_id, name, sha, "loaded", len(frame), location, "")
    move(landing, name, archive, stored_name)
    return FileOutcome(name, batch_id, sha, "loaded", len(frame), location)


def _quarantine(
    name: str,
    batch_id: str,
    sha: str,
    stored_name: str,
    rejected: BatchRejected,
    contract: SourceContract,
    landing: Store,
    quarantine: Store,
    warehouse: Warehouse,
) -> FileOutcome:
    reason = {
        "file": name,
        "batch_id": batch_id,
        "sha256": sha,
        "table": contract.qualified_table,
        "stage": "ingest",
        "violations": [v.to_dict() for v in rejected.violations],
        "summary": [v.describe() for v in rejected.violations],
        "what_to_do": "Fix the file at its source and drop the corrected file into landing again; "
        "this copy stays here for reference.",
    }
    reason_name = str(PurePosixPath(stored_name).parent / "reason.json")
    quarantine.write_bytes(reason_name, json.dumps(reason, indent=2).encode())
    location = move(landing, name, quarantine, stored_name)
    _record(warehouse, contract, batch_id, name, sha, "quarantined", 0, location, str(rejected))
    log.error("quarantined %s: %s (reason: %s)", name, rejected, quarantine.uri(reason_name))
    return FileOutcome(name, batch_id, sha, "quarantined", 0, location, str(rejected))


def _already_loaded(warehouse: Warehouse, contract: SourceContract, batch_id: str, sha: str) -> bool:
    rows = warehouse.fetch_all(
        f"select 1 from {INGEST_LOG} where raw_table = ? and batch_id = ? and file_sha256 = ? and status = 'loaded'",
        (contract.qualified_table, batch_id, sha),
    )
    return bool(rows)


def _record(
    warehouse: Warehouse,
    contract: SourceContract,
    batch_id: str,
    name: str,
    sha: str,
    status: str,
    rows: int,
    location: str,
    reason: str,
) -> None:
    warehouse.execute(
        f"delete from {INGEST_LOG} where raw_table = ? and batch_id = ? and file_sha256 = ?",
        (contract.qualified_table, batch_id, sha),
    )
    warehouse.execute(
        f"insert into {INGEST_LOG} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            contract.qualified_table,
            batch_id,
            name,
            sha,
            status,
            rows,
            location,
            reason,
            datetime.now(UTC).replace(tzinfo=None),
        ),
    )
