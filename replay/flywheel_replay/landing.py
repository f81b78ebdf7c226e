"""Replays a bundled dataset into landing as monthly batch files, as if they arrived over time.

The project carries each dataset whole (``data/``); production systems deliver a file per period. The replay cuts
the dataset by month (as the source contract says) and writes ``<table>_<YYYY-MM>.csv`` for each month in the
requested range, byte-for-byte the same on every run, so landing a month twice is harmless: ingest sees the same
file hash and loads nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from flywheel.ingest.contract import SourceContract, load_contracts
from flywheel.settings import Settings, get_settings
from flywheel.storage import Store, open_store

log = logging.getLogger(__name__)

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def read_dataset(contract: SourceContract, project_dir: Path) -> pd.DataFrame:
    """The bundled dataset as text, exactly as written (``NULL`` / ``NA`` stay strings)."""
    path = project_dir / contract.landing.replay_dataset
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def month_of_rows(frame: pd.DataFrame, contract: SourceContract) -> pd.Series:
    """``YYYY-MM`` of every row."""
    how = contract.landing.replay_month_from
    if how.date:
        return pd.to_datetime(frame[how.date]).dt.strftime("%Y-%m")
    if how.year and how.month_name:
        month_number = frame[how.month_name].map({m: i + 1 for i, m in enumerate(_MONTHS)})
        return frame[how.year] + "-" + month_number.map("{:02d}".format)
    raise ValueError(f"{contract.qualified_table}: replay_month_from needs 'date' or 'year' + 'month_name'")


def dataset_months(contract: SourceContract, project_dir: Path) -> list[str]:
    """Every month (``YYYY-MM``) the bundled dataset has rows for, in order."""
    return sorted(month_of_rows(read_dataset(contract, project_dir), contract).unique())


def batch_file_name(contract: SourceContract, month: str) -> str:
    return contract.landing.file_glob.replace("*", month)


def land_months(
    contract: SourceContract, project_dir: Path, landing: Store, first: str | None = None, last: str | None = None
) -> list[str]:
    """Write one landing file per month in [first, last] (``YYYY-MM``, inclusive); returns the file names."""
    frame = read_dataset(contract, project_dir)
    months = month_of_rows(frame, contract)
    written = []
    for month in sorted(months.unique()):
        if (first and month < first) or (last and month > last):
            continue
        rows = frame[months == month]
        name = batch_file_name(contract, month)
        landing.write_bytes(name, rows.to_csv(index=False, lineterminator="\n").encode())
        log.info("landed %s (%d rows) in %s", name, len(rows), landing.uri(name))
        written.append(name)
    return written


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
