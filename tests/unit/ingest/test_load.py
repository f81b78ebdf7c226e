"""Landing -> raw: idempotent, archived, and bad files quarantined while good ones load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.data.warehouse import DuckDBWarehouse
from flywheel.ingest.load import ingest_landing
from flywheel.settings import get_settings
from flywheel.storage import LocalStore
from flywheel_replay.landing import land_months
from tests.helpers import hotel_contract


@pytest.fixture
def env(tmp_path: Path):
    contract = hotel_contract(get_settings().dbt_project_dir)
    stores = {k: LocalStore(str(tmp_path / k)) for k in ("landing", "archive", "quarantine")}
    warehouse = DuckDBWarehouse(str(tmp_path / "warehouse.duckdb"))

    def ingest():
        return ingest_landing(contract, stores["landing"], stores["archive"], stores["quarantine"], warehouse)

    return contract, stores, warehouse, ingest


def _raw_state(warehouse):
    return warehouse.fetch_all(
        "select _batch_id, count(*), min(_loaded_at), max(_file_sha256) from raw.hotel_bookings "
        "group by _batch_id order by _batch_id"
    )


def test_same_files_twice_add_nothing(env, project_dir):
    contract, stores, warehouse, ingest = env
    names = land_months(contract, project_dir, stores["landing"], "2015-07", "2015-08")
    first = ingest()
    assert [o.status for o in first.outcomes] == ["loaded", "loaded"]
    assert first.loaded_rows == 2776 + 3889
    assert stores["landing"].list() == []
    assert len(stores["archive"].list("*.csv")) == 2
    state = _raw_state(warehouse)

    land_months(contract, project_dir, stores["landing"], "2015-07", "2015-08")  # delivered again, same bytes
    second = ingest()
    assert [o.status for o in second.outcomes] == ["already_loaded", "already_loaded"]
    assert _raw_state(warehouse) == state  # same rows, same load times
    assert ingest().outcomes == []  # nothing left in landing
    assert names == ["hotel_bookings_2015-07.csv", "hotel_bookings_2015-08.csv"]


def test_corrected_redelivery_replaces_the_batch(env, project_dir):
    contract, stores, warehouse, ingest = env
    (name,) = land_months(contract, project_dir, stores["landing"], "2015-07", "2015-07")
    ingest()
    lines = stores["archive"].read_bytes(stores["archive"].list("*.csv")[0]).decode().splitlines()
    stores["landing"].write_bytes(name, ("\n".join(lines[:-10]) + "\n").encode())  # 10 rows withdrawn
    (outcome,) = ingest().outcomes
    assert outcome.status == "loaded"
    assert warehouse.fetch_all("select count(*) from raw.hotel_bookings") == [(2776 - 10,)]
    statuses = warehouse.fetch_all("select status from ops.ingested_files order by recorded_at")
    assert statuses == [("superseded",), ("loaded",)]


def test_bad_files_are_quarantined_and_good_ones_load(env, project_dir):
    contract, stores, warehouse, ingest = env
    land_months(contract, project_dir, stores["landing"], "2015-07", "2015-08")
    good = stores["landing"].read_bytes("hotel_bookings_2015-07.csv").decode()
    header, *rows = good.splitlines()
    columns = header.split(",")
    drop = columns.index("country")
    missing_column = (
        "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in [header, *rows[:20]])
        + "\n"
    )
    fields = rows[0].split(",")
    fields[columns.index("adr")] = "expensive"
    text_in_number = "\n".join([header, ",".join(fields), *rows[1:20]]) + "\n"
    stores["landing"].write_bytes("hotel_bookings_2099-01.csv", missing_column.encode())
    stores["landing"].write_bytes("hotel_bookings_2099-02.csv", text_in_number.encode())
    stores["landing"].write_bytes("hotel_bookings_2099-03.csv", b"")

    report = ingest()

    status = {o.batch_id: o.status for o in report.outcomes}
    assert status == {
        "hotel_bookings_2015-07": "loaded",
        "hotel_bookings_2015-08": "loaded",
        "hotel_bookings_2099-01": "quarantined",
        "hotel_bookings_2099-02": "quarantined",
        "hotel_bookings_2099-03": "quarantined",
    }
    assert warehouse.fetch_all("select count(distinct _batch_id), count(*) from raw.hotel_bookings") == [
        (2, 2776 + 3889)
    ]
    reasons = {}
    for name in stores["quarantine"].list("*/reason.json"):
        reason = json.loads(stores["quarantine"].read_bytes(name))
        reasons[reason["batch_id"]] = [(v["file"], v["column"], v["rule"]) for v in reason["violations"]]
        assert stores["quarantine"].exists(name.replace("reason.json", reason["file"]))  # the file is kept
    assert reasons == {
        "hotel_bookings_2099-01": [("hotel_bookings_2099-01.csv", "country", "column_present")],
        "hotel_bookings_2099-02": [("hotel_bookings_2099-02.csv", "adr", "parses_as_number")],
        "hotel_bookings_2099-03": [("hotel_bookings_2099-03.csv", None, "not_empty")],
    }
    assert stores["landing"].list() == []
