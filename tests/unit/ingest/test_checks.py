"""The raw-file contract: every malformed file is rejected with the file, the column and the rule."""

from __future__ import annotations

import gzip

import pytest

from flywheel.ingest.checks import BatchRejected, parse_landed_file
from flywheel.ingest.contract import SourceContract
from flywheel.settings import get_settings
from tests.helpers import hotel_contract


@pytest.fixture(scope="module")
def contract() -> SourceContract:
    hotels = hotel_contract(get_settings().dbt_project_dir)
    return hotels


@pytest.fixture(scope="module")
def good_csv(project_dir) -> str:
    with gzip.open(project_dir / "data/hotel_bookings/hotel_bookings.csv.gz", "rt") as f:
        return "".join(f.readline() for _ in range(51))  # header + 50 real rows


def _rejected(name: str, data: bytes, contract: SourceContract) -> BatchRejected:
    with pytest.raises(BatchRejected) as caught:
        parse_landed_file(name, data, contract)
    assert all(v.file == name for v in caught.value.violations)
    return caught.value


def test_real_rows_pass_and_stay_text(good_csv, contract):
    frame = parse_landed_file("ok.csv", good_csv.encode(), contract)
    assert len(frame) == 50
    assert list(frame.columns) == contract.column_names
    assert (frame["agent"] == "NULL").any()  # missing markers are kept as delivered; staging handles them


def test_missing_column(good_csv, contract):
    lines = [",".join(line.split(",")[:-1]) for line in good_csv.splitlines()]
    rejected = _rejected("missing.csv", ("\n".join(lines) + "\n").encode(), contract)
    (violation,) = rejected.violations
    assert (violation.column, violation.rule) == ("reservation_status_date", "column_present")


def test_renamed_column_names_both_sides(good_csv, contract):
    data = good_csv.replace(",adr,", ",average_daily_rate,", 1).encode()
    rules = {(v.column, v.rule) for v in _rejected("renamed.csv", data, contract).violations}
    assert rules == {("adr", "column_present"), ("average_daily_rate", "column_known")}
    assert "renamed?" in str(_rejected("renamed.csv", data, contract))


def test_text_in_numeric_column(good_csv, contract):
    header, first, *rest = good_csv.splitlines()
    fields = first.split(",")
    fields[header.split(",").index("lead_time")] = "soon"
    data = "\n".join([header, ",".join(fields), *rest]) + "\n"
    (violation,) = _rejected("text.csv", data.encode(), contract).violations
    assert (violation.column, violation.rule, violation.example_lines) == ("lead_time", "parses_as_integer", [2])
    assert "'soon'" in violation.detail


@pytest.mark.parametrize(
    ("data", "rule"),
    [(b"", "not_empty"), (b"\n\n", "not_empty"), (b"\x1f\x8b\x08\x00binary\xff\xfe", "csv_utf8")],
    ids=["empty", "blank-lines", "not-csv"],
)
def test_empty_and_not_csv(data, rule, contract):
    (violation,) = _rejected("bad.csv", data, contract).violations
    assert violation.rule == rule


def test_header_only(good_csv, contract):
    (violation,) = _rejected("header.csv", good_csv.splitlines()[0].encode() + b"\n", contract).violations
    assert violation.rule == "not_empty"


@pytest.mark.parametrize("cut", [-40, -3], ids=["mid-line", "last-field"])
def test_truncated_file(good_csv, contract, cut):
    data = good_csv.encode()[:cut]
    (violation,) = _rejected("truncated.csv", data, contract).violations
    assert violation.rule in ("complete_last_line", "parses_as_date")
    assert violation.example_lines == [51]
