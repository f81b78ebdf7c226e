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

from flywheel.ingest.contract import SourceContract
from flywheel.storage import Store

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
