"""GX validation of mart partitions: failures name batch, column and expectation, and quarantine the batch."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from flywheel.data.validation import PartitionValidationError, quarantined_batches, validate_new_partitions
from flywheel.data.warehouse import DuckDBWarehouse
from flywheel.settings import get_settings
from flywheel.storage import LocalStore


def _partition(batch: str, rows: int = 150, **overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "booking_key": [f"{batch}-{i}" for i in range(rows)],
            "batch_id": batch,
            "arrival_date": pd.Timestamp("2016-01-15"),
            "hotel": "City Hotel",
            "lead_time": 10,
            "arrival_month": 1,
            "stays_in_weekend_nights": 1,
            "stays_in_week_nights": 2,
            "adults": 2,
            "market_segment": "Online TA",
            "deposit_type": "No Deposit",
            "customer_type": "Transient",
            "adr": 90.0,
            "is_canceled": [i % 3 == 0 for i in range(rows)],
        }
    )
    frame["is_canceled"] = frame["is_canceled"].astype(int)
    for column, value in overrides.items():
        frame.loc[:4, column] = value
    return frame


def test_bad_partition_is_quarantined_with_a_readable_result(tmp_path):
    warehouse = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    mart = pd.concat([_partition("good"), _partition("bad", adr=99999.0)])
    warehouse.execute("create schema marts")
    from duckdb import connect

    with connect(str(tmp_path / "w.duckdb")) as con:
        con.register("mart", mart)
        con.execute("create table marts.ml_booking_features as select * from mart")
    reports, quarantine = LocalStore(str(tmp_path / "reports")), LocalStore(str(tmp_path / "quarantine"))
    run = lambda key: validate_new_partitions(  # noqa: E731
        "ml_booking_features", warehouse, get_settings().expectations_dir, reports, quarantine, key
    )

    with pytest.raises(PartitionValidationError) as caught:
        run("transform/run-1")
    message = str(caught.value)
    assert "batch bad" in message and "column 'adr'" in message and "expect_column_values_to_be_between" in message
    assert "5 rows" in message and "99999" in message
    assert quarantined_batches(warehouse, "ml_booking_features") == ["bad"]
    result = json.loads(quarantine.read_bytes("bad/validation/ml_booking_features.json"))
    assert result["success"] is False and result["failures"][0]["column"] == "adr"
    assert json.loads(reports.read_bytes("validation/ml_booking_features/good.json"))["success"] is True

    with pytest.raises(PartitionValidationError, match="Already failed earlier in this run: bad"):
        run("transform/run-1")  # a retry or clear of the same run keeps its verdict
    assert run("transform/run-2") == []  # a later run skips the quarantined partition, validated once per content
