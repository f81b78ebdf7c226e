"""Scenario 11: personal data. The hotel data has none, so this lands real bookings with a guest's name, e-mail,
phone number and card number added (the columns of a widely shared variant of the dataset, tagged
`flywheel_pii` in the dbt source YAML) and runs the loop on them: ingest, dbt build, validation, training,
registration and a monitor report. The raw table keeps them (nothing is lost); none of them reaches staging,
the marts, the MLflow run (params, tags, metrics, artifacts) or the reports; the e-mail leaves staging only as
a keyed hash."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pytest

from flywheel.data import predictions
from flywheel.data.warehouse import open_warehouse
from flywheel.ingest.contract import load_contracts
from flywheel.jobs import monitor as monitor_job
from flywheel.jobs.ingest import ingest_all
from flywheel.jobs.validate import validate_mart
from flywheel.registry import tracking
from flywheel.settings import Settings, get_settings
from flywheel.specs import load_spec
from flywheel.storage import open_store
from flywheel.workspace import Workspace
from flywheel_replay.landing import replay_months
from tests.helpers import dbt_build, small_spec_copies, train_first_champion

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

MODEL = "hotel_cancellation"  # a small copy under the real name, so monitoring/hotel_cancellation.yaml applies
PII_COLUMNS = ["name", "email", "phone-number", "credit_card"]


def _person(i: int) -> list[str]:
    return [f"Guestname{i} Familyname{i}", f"guest{i}.family@example.org", f"+351 91{i:07d}", f"************{i:04d}"]


def _add_personal_data(settings: Settings) -> set[str]:
    """Add the four columns to every landed hotel file; returns every value added."""
    landing = open_store(settings.landing_uri)
    added: set[str] = set()
    number = 0
    for name in landing.list("hotel_bookings_*.csv"):
        header, *rows = landing.read_bytes(name).decode().splitlines()
        lines = [f"{header},{','.join(PII_COLUMNS)}"]
        for row in rows:
            number += 1
            person = _person(number)
            added.update(person)
            lines.append(f"{row},{','.join(person)}")
        landing.write_bytes(name, ("\n".join(lines) + "\n").encode())
    return added


def _readable(path: Path) -> str:
    """A file's content as text, looking inside what compresses it (Parquet, the zip of a skops model)."""
    import zipfile

    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype(str).to_csv()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return "".join(archive.read(n).decode("latin-1") for n in archive.namelist())
    return path.read_bytes().decode("latin-1")


MARKERS = ("Familyname", "@example.org", "************", "+351 91")  # every value added contains one


def _leaks(text: str) -> list[str]:
    return [m for m in MARKERS if m in text]


def test_the_contract_tags_every_personal_column():
    (hotel,) = [c for c in load_contracts(get_settings().dbt_project_dir) if c.table == "hotel_bookings"]
    tagged = {c.name: c.pii for c in hotel.columns if c.pii}
    assert tagged == {"name": "drop", "email": "hash", "phone-number": "drop", "credit_card": "drop"}
    assert all(c.optional for c in hotel.columns if c.pii)  # the published files, without them, still land


def test_personal_data_stays_in_raw_and_reaches_no_mart_run_or_report(tmp_path):
    settings = Settings(home=tmp_path, project_dir=get_settings().project_dir, specs_dir=tmp_path / "specs")
    small_spec_copies(settings.project_dir, settings.models_dir, [MODEL], model=MODEL)
    replay_months("2015-07", "2015-12", settings)
    added = _add_personal_data(settings)
    ingest_all(Workspace(settings))
    dbt_build(settings)
    validate_mart(Workspace(settings), "ml_booking_features", "")
    version = train_first_champion(settings, MODEL)
    replay_months("2016-01", "2016-01", settings)
    added |= _add_personal_data(settings)
    ingest_all(Workspace(settings))
    dbt_build(settings)
    validate_mart(Workspace(settings), "ml_booking_features", "")
    warehouse = open_warehouse(settings)
    predictions.publish_labels(load_spec(settings.models_dir / f"{MODEL}.yaml"), warehouse, datetime(2016, 1, 31, 23))
    monitor_job.run_monitor(Workspace(settings), MODEL, (datetime(2016, 1, 1), datetime(2016, 2, 1)))

    # Kept where it arrived: the raw table holds every value (the archived files too).
    raw = warehouse.query_df('select name, email, "phone-number", credit_card from raw.hotel_bookings')
    assert set(raw.to_numpy().ravel()) == added

    # Nowhere downstream: every table of staging and the marts, as text.
    tables = warehouse.fetch_all(
        "select table_schema, table_name from information_schema.tables where table_schema in ('staging', 'marts')"
    )
    assert len(tables) >= 6
    for schema, table in tables:
        text = warehouse.query_df(f"select * from {schema}.{table}").astype(str).to_csv()
        assert not _leaks(text), f"{schema}.{table}"
    pseudonyms = warehouse.fetch_all("select count(distinct guest_key) from staging.stg_hotels__bookings")[0][0]
    assert pseudonyms == raw["email"].nunique()  # one pseudonym per guest (the fixture reuses guests across files)
    key = warehouse.fetch_all("select pii_key from ops.pii_key")[0][0]
    first = warehouse.fetch_all(
        "select guest_key from staging.stg_hotels__bookings order by batch_id, source_row_number limit 1"
    )[0][0]
    assert first == hashlib.sha256(f"{key}{_person(1)[1]}".encode()).hexdigest()  # keyed, not a bare sha256

    # Not in the MLflow run: params, tags, metric names, and every artifact (model files included).
    client = tracking.client(settings)
    run = client.get_run(client.get_model_version(MODEL, version).run_id)
    assert not _leaks(repr((run.data.params, run.data.tags, sorted(run.data.metrics))))
    import mlflow

    for folder in (
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "run")),
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{MODEL}/{version}", dst_path=str(tmp_path / "model")
        ),
    ):
        files = [p for p in Path(folder).rglob("*") if p.is_file()]
        assert files
        for path in files:
            assert not _leaks(_readable(path)), path

    # Not in the reports (validation results, the Evidently report, the verdict).
    reports = open_store(settings.reports_uri)
    names = reports.list()
    assert any(n.endswith("report.html") for n in names), names
    for name in names:
        assert not _leaks(reports.read_bytes(name).decode("latin-1")), name
