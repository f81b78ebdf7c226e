"""Every config file loads strictly: model specs, GX suites, landing contracts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from flywheel.data.validation import SuiteFileError, load_suite
from flywheel.ingest.contract import load_contracts
from flywheel.settings import get_settings
from flywheel.specs import load_spec

SETTINGS = get_settings()
SPECS = sorted(SETTINGS.models_dir.glob("*.yaml"))
SUITES = sorted(SETTINGS.expectations_dir.glob("*.json"))
# Columns tagged in the dbt YAML with `config.meta.flywheel_leaks_label: true`, and the known ones by name.
LEAKS = {
    "reservation_status",
    "reservation_status_date",
    "assigned_room_type",
    "booking_changes",
    "days_in_waiting_list",
    "casual",
    "registered",
}


def _tagged_leaks() -> set[str]:
    tagged = set()
    for path in (SETTINGS.dbt_project_dir / "models").rglob("*.yml"):
        document = yaml.safe_load(path.read_text()) or {}
        tables = [t for s in document.get("sources", []) for t in s.get("tables", [])] + document.get("models", [])
        for table in tables:
            for column in table.get("columns", []):
                if ((column.get("config") or {}).get("meta") or {}).get("flywheel_leaks_label"):
                    tagged.add(column["name"])
    return tagged


def test_label_leaks_are_tagged_in_dbt():
    tagged = _tagged_leaks()
    assert {"casual", "registered", "casual_rentals", "registered_rentals", "reservation_status"} <= tagged


def test_there_are_configs():
    assert SPECS and SUITES


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_loads_and_uses_no_leaking_column(path: Path):
    spec = load_spec(path)
    leaks = LEAKS | _tagged_leaks()
    assert spec.name == path.stem
    assert not leaks & set(spec.features.all)
    assert set(spec.segments) <= set(spec.features.all)
    mart_sql = SETTINGS.dbt_project_dir / "models" / "marts" / f"{spec.source.mart}.sql"
    assert mart_sql.is_file(), f"{path.name}: mart {spec.source.mart} has no dbt model"
    sql = mart_sql.read_text().split("-#}", 1)[-1]  # leave out the header comment that names the leaks
    # A column that leaks one model's label may be another model's label: selected as the target, nothing else.
    as_label = {c for c in leaks if f"{c} as {spec.source.target_column}" in sql}
    assert all(sql.count(c) == 1 for c in as_label), "a label's source column is selected once, as the label"
    assert not {c for c in leaks - as_label if c in sql}, "the ML mart must not select label-leaking columns"


def test_spec_rejects_unknown_keys_and_misnamed_files(tmp_path: Path):
    document = yaml.safe_load(SPECS[0].read_text())
    document["gates"]["max_drop_vs_champoin"] = 0.01
    typo = tmp_path / f"{SPECS[0].stem}.yaml"
    typo.write_text(yaml.safe_dump(document))
    with pytest.raises(ValidationError, match="max_drop_vs_champoin"):
        load_spec(typo)
    renamed = tmp_path / "other_name.yaml"
    renamed.write_text(SPECS[0].read_text().replace("description:", f"name: {SPECS[0].stem}\ndescription:", 1))
    with pytest.raises(ValueError, match="must equal the file stem"):
        load_spec(renamed)


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_suite_loads_every_expectation(path: Path):
    declared = json.loads(path.read_text())["expectations"]
    suite = load_suite(path)
    assert len(suite.expectations) == len(declared) >= 10
    assert (SETTINGS.dbt_project_dir / "models" / "marts" / f"{path.stem}.sql").is_file()


def test_suite_with_a_malformed_expectation_is_refused(tmp_path: Path):
    document = json.loads(SUITES[0].read_text())
    document["expectations"].append({"type": "expect_column_values_to_be_betwen", "kwargs": {"column": "adr"}})
    broken = tmp_path / SUITES[0].name
    broken.write_text(json.dumps(document))
    with pytest.raises(SuiteFileError, match=SUITES[0].name):
        load_suite(broken)


def test_landing_contracts_match_the_bundled_data(project_dir):
    import pandas as pd

    for contract in load_contracts(SETTINGS.dbt_project_dir):
        header = pd.read_csv(project_dir / contract.landing.replay_dataset, nrows=0).columns.tolist()
        # The bundled files carry every required column in order, and none of the optional (personal) ones.
        assert header == [c.name for c in contract.columns if not c.optional]


MONITORS = sorted(SETTINGS.monitoring_dir.glob("*.yaml"))


@pytest.mark.parametrize("path", MONITORS, ids=lambda p: p.name)
def test_monitor_policy_loads_for_its_model(path: Path):
    from flywheel.specs import load_monitor_spec

    model = load_spec(SETTINGS.models_dir / path.name)
    monitor = load_monitor_spec(path, model)
    assert monitor.name == model.name
    assert (SETTINGS.project_dir / monitor.alerts.runbook).is_file()
    assert not any(r.url_env and r.url_env.startswith("http") for r in monitor.alerts.routes), "URLs are secrets"


def test_monitor_policy_rejects_typos_and_unknown_columns(tmp_path: Path):
    from flywheel.specs import load_monitor_spec

    good = yaml.safe_load(MONITORS[0].read_text())
    model = load_spec(SETTINGS.models_dir / MONITORS[0].name)
    typo = tmp_path / MONITORS[0].name
    typo.write_text(yaml.safe_dump({**good, "retrian": {}}))
    with pytest.raises(ValidationError, match="retrian"):
        load_monitor_spec(typo)
    typo.write_text(yaml.safe_dump({**good, "drift": {**good["drift"], "ignore": ["no_such_column"]}}))
    with pytest.raises(ValueError, match="no_such_column"):
        load_monitor_spec(typo, model)
    typo.write_text(yaml.safe_dump({**good, "alerts": {**good["alerts"], "routes": [{"kind": "slack"}]}}))
    with pytest.raises(ValidationError, match="url_env"):
        load_monitor_spec(typo)
