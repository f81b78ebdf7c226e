"""Scenario 7: schema changes, an empty batch, unseen categories, all-null columns and extreme values, in a landed
batch and in requests to the prediction service. A batch is stopped before training by the rule that names its
column (the landing contract, a dbt test, or the mart's expectation suite, whichever comes first); the service
answers 422 for what its schema refuses and scores the rest, never a 5xx."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.data.validation import quarantined_batches
from flywheel.data.warehouse import open_warehouse
from flywheel.jobs.ingest import ingest_all
from flywheel.jobs.validate import validate_mart
from flywheel.serving.app import create_app
from flywheel.serving.models import ModelPool
from flywheel.serving.prediction_log import PredictionLogWriter
from flywheel.settings import Settings, get_settings
from flywheel.specs import load_spec
from flywheel.storage import open_store
from flywheel.training.dataset import load_snapshot
from flywheel.workspace import Workspace
from flywheel_replay.landing import replay_months
from flywheel_replay.traffic import month_records
from tests.helpers import small_spec_copies

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

MART = "ml_bike_demand_features"
SOURCE_FILE = "bike_hourly_rentals_2011-03.csv"


def _settings(home: Path) -> Settings:
    return Settings(home=home, project_dir=get_settings().project_dir, specs_dir=home / "specs")


def _mutated(settings: Settings, batch: str, change) -> str:  # type: ignore[no-untyped-def]
    """A copy of March 2011's landed file as another month's batch (dates moved to 2013: new keys), changed."""
    landing = open_store(settings.landing_uri)
    header, *rows = [line.split(",") for line in landing.read_bytes(SOURCE_FILE).decode().splitlines()]
    rows = [[v.replace("2011-03", batch) if i == header.index("dteday") else v for i, v in enumerate(r)] for r in rows]
    header, rows = change(header, rows)
    name = f"bike_hourly_rentals_{batch}.csv"
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n" if header else ""
    landing.write_bytes(name, text.encode())
    return name


def _set(column: str, value: str):  # type: ignore[no-untyped-def]
    def change(header, rows):  # type: ignore[no-untyped-def]
        i = header.index(column)
        return header, [[value if j == i else v for j, v in enumerate(r)] for r in rows]

    return change


def _drop(column: str):  # type: ignore[no-untyped-def]
    def change(header, rows):  # type: ignore[no-untyped-def]
        i = header.index(column)
        return [h for j, h in enumerate(header) if j != i], [[v for j, v in enumerate(r) if j != i] for r in rows]

    return change


def _rename(column: str, new: str):  # type: ignore[no-untyped-def]
    def change(header, rows):  # type: ignore[no-untyped-def]
        return [new if h == column else h for h in header], rows

    return change


def test_schema_changes_and_an_empty_batch_are_quarantined_at_landing_naming_the_column(tmp_path):
    settings = _settings(tmp_path)
    replay_months("2011-03", "2011-03", settings)
    batches = {
        "2013-01": (_drop("temp"), ("temp", "column_present")),
        "2013-02": (_rename("hum", "humidity"), ("hum", "column_present")),
        "2013-03": (_set("windspeed", "calm"), ("windspeed", "parses_as_number")),  # retyped: text
        "2013-04": (lambda header, rows: ([], []), (None, "not_empty")),
        "2013-05": (lambda header, rows: (header, []), (None, "not_empty")),  # a header and no rows
    }
    for batch, (change, _) in batches.items():
        _mutated(settings, batch, change)
    ingest_all(Workspace(settings))
    quarantine = open_store(settings.quarantine_uri)
    reasons = {
        (r := json.loads(quarantine.read_bytes(n)))["batch_id"]: r["violations"][0]
        for n in quarantine.list("*/reason.json")
    }
    assert {b.removeprefix("bike_hourly_rentals_"): (v["column"], v["rule"]) for b, v in reasons.items()} == {
        b: expected for b, (_, expected) in batches.items()
    }
    loaded = open_warehouse(settings).fetch_all("select distinct _batch_id from raw.bike_hourly_rentals")
    assert loaded == [("bike_hourly_rentals_2011-03",)]  # the good batch loaded, none of the bad ones


@pytest.mark.parametrize(
    ("change", "stopped_by", "column"),
    [
        (_set("temp", ""), "expectation", "temperature_norm"),  # an all-null column
        (_set("hum", "50"), "expectation", "humidity_norm"),  # an extreme value (humidity is a share: 0..1)
        (_set("weathersit", "9"), "dbt test", "weather_situation"),  # an unseen category code
    ],
    ids=["all-null", "extreme", "unseen-category"],
)
def test_bad_values_in_a_batch_never_reach_training(tmp_path, change, stopped_by, column):
    from tests.helpers import dbt_build

    settings = _settings(tmp_path)
    small_spec_copies(settings.project_dir, settings.models_dir, ["bike_demand"])
    replay_months("2011-01", "2011-03", settings)
    name = _mutated(settings, "2013-03", change)
    ingest_all(Workspace(settings))
    batch = Path(name).stem
    if stopped_by == "dbt test":
        with pytest.raises(AssertionError) as failed:  # dbt build exits non-zero; its output names the test
            dbt_build(settings)
        assert f"accepted_values_stg_bike_sharing__hourly_rentals_{column}" in str(failed.value)
        return  # the transform fails: no mart, no validation event, no training
    dbt_build(settings)
    with pytest.raises(Exception, match=rf"column '{column}' failed") as failed:
        validate_mart(Workspace(settings), MART, "")
    assert batch in str(failed.value)
    warehouse = open_warehouse(settings)
    assert quarantined_batches(warehouse, MART) == [batch]
    spec = load_spec(settings.models_dir / "bike_demand.yaml")
    snapshot = load_snapshot(spec, warehouse)
    assert batch in snapshot.excluded_batches and snapshot.last_event < "2013-01-01"


@pytest.fixture(scope="module")
def service(tmp_path_factory, template):
    from fastapi.testclient import TestClient

    settings = template("bike_first_half_year", tmp_path_factory.mktemp("bad-requests"))  # v1 is @champion
    spec = load_spec(settings.models_dir / "bike_demand.yaml")
    record = month_records(spec, open_warehouse(settings), "2011-06")[30]
    app = create_app(
        spec,
        settings,
        ModelPool("bike_demand", settings),
        PredictionLogWriter(open_store(settings.predictions_uri), "bike_demand"),
    )
    with TestClient(app) as http:
        yield http, {**record, "entity_id": "hour-1"}


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"weather": "volcanic_ash"}, 200),  # an unseen category: scored as none of the known ones
        ({"season": ""}, 200),
        ({"rentals_same_hour_previous_day": None, "rentals_same_hour_previous_week": None}, 200),  # nullable
        ({"temperature_norm": 1e300, "hour_of_day": -1e300}, 200),  # extremes: the trees' outermost bins
        ({"humidity_norm": 0.0, "wind_speed_norm": 0.0, "temperature_norm": 0.0}, 200),
        ({"temperature_norm": None}, 422),  # not nullable
        ({"temperature_norm": "warm"}, 422),  # a wrong type
        ({"weather": 3}, 422),
        ({"weather": "x" * 201}, 422),  # longer than any category
        ({"surprise": 1}, 422),  # a renamed or extra column
        ({"entity_id": ""}, 422),
    ],
)
def test_odd_requests_are_scored_or_refused_with_422_never_a_server_error(service, change, status):
    http, record = service
    response = http.post("/predict", json={"records": [{**record, **change}]})
    assert response.status_code == status, response.text
    if status == 200:
        (prediction,) = response.json()["predictions"]
        assert prediction["score"] >= 0 and prediction["decision"] is None


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_get_422_naming_the_field(service, number):
    http, record = service
    body = json.dumps({"records": [{**record, "temperature_norm": 0.123456789}]}).replace("0.123456789", number)
    response = http.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == "temperature_norm"


@pytest.mark.parametrize("body", ["not json", '{"records": null}', "[]", '{"records": [{}]}', ""])
def test_malformed_bodies_get_422(service, body):
    http, _ = service
    response = http.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
