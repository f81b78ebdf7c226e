"""Validate the new partitions of every mart that has a suite in expectations/."""

from __future__ import annotations

from flywheel.data.validation import PartitionResult, validate_new_partitions
from flywheel.data.warehouse import open_warehouse
from flywheel.settings import Settings, get_settings
from flywheel.storage import open_store


def suites(settings: Settings | None = None) -> list[str]:
    """Marts with a suite: the file stem of each expectations/*.json."""
    settings = settings or get_settings()
    return sorted(p.stem for p in settings.expectations_dir.glob("*.json"))


def validate_mart(mart: str, run_key: str = "", settings: Settings | None = None) -> list[PartitionResult]:
    settings = settings or get_settings()
    return validate_new_partitions(
        mart,
        open_warehouse(settings),
        settings.expectations_dir,
        open_store(settings.reports_uri, settings.s3_endpoint_url),
        open_store(settings.quarantine_uri, settings.s3_endpoint_url),
        run_key,
    )
