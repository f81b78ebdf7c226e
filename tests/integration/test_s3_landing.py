"""Landing, archive and quarantine in S3 (boto3 against a moto server on loopback) work like local folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.data.warehouse import DuckDBWarehouse
from flywheel.ingest.load import ingest_landing
from flywheel.settings import get_settings
from flywheel.storage import S3Store
from flywheel_replay.landing import land_months
from tests.helpers import hotel_contract, moto_s3_server

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with moto_s3_server() as endpoint:
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="flywheel")
        yield endpoint


def test_ingest_from_s3_landing(s3, tmp_path: Path):
    contract = hotel_contract(get_settings().dbt_project_dir)
    landing, archive, quarantine = (S3Store(f"s3://flywheel/{k}", s3) for k in ("landing", "archive", "quarantine"))
    land_months(contract, get_settings().project_dir, landing, "2015-07", "2015-07")
    landing.write_bytes("hotel_bookings_2099-01.csv", b"")
    warehouse = DuckDBWarehouse(str(tmp_path / "w.duckdb"))

    report = ingest_landing(contract, landing, archive, quarantine, warehouse)

    assert {o.batch_id: o.status for o in report.outcomes} == {
        "hotel_bookings_2015-07": "loaded",
        "hotel_bookings_2099-01": "quarantined",
    }
    assert landing.list() == []
    (archived,) = archive.list("*.csv")
    assert archived.startswith("hotel_bookings_2015-07/") and report.outcomes[0].location.startswith("s3://flywheel/")
    reason = json.loads(quarantine.read_bytes(quarantine.list("*/reason.json")[0]))
    assert reason["violations"][0]["rule"] == "not_empty"
    assert warehouse.fetch_all("select count(*) from raw.hotel_bookings") == [(2776,)]
