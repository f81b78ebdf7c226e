"""The embedded loop end to end with dag.test(): ingest -> transform (dbt + GX) -> train, on the demo's months of
real data; then re-runs change nothing, bad files are quarantined while good ones load, and a batch that fails
its suite is kept out of training."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.registry import register, tracking
from flywheel.settings import get_settings
from flywheel.storage import open_store
from flywheel_replay.landing import replay_months

pytestmark = pytest.mark.integration

MODEL = "hotel_cancellation"
DEMO_ROWS = 49_157  # 2015-07 .. 2016-06


@pytest.fixture(scope="module")
def run(dags):
    from flywheel.orchestration.runner import run_dag

    settings = get_settings()

    def run_one(dag_id: str):
        return run_dag(dags[dag_id], settings.home / "logs" / f"test-{dag_id}.log")

    return run_one


def _fingerprint(settings):
    warehouse = open_warehouse(settings)
    client = tracking.client(settings)
    return {
        "raw": warehouse.fetch_all(
            "select _batch_id, count(*), min(_loaded_at) from raw.hotel_bookings group by 1 order by 1"
        ),
        "mart": warehouse.fetch_all("select count(*), count(distinct booking_key) from marts.ml_booking_features"),
        "versions": sorted(v.version for v in client.search_model_versions(f"name = '{MODEL}'")),
        "ledger": warehouse.fetch_all("select count(*) from ops.model_ledger"),
        "archive": sorted(open_store(settings.archive_uri).list()),
    }


def test_loop_trains_a_champion_and_reruns_change_nothing(run):
    settings = get_settings()
    replay_months("2015-07", "2016-06")

    outcomes = {d: run(d) for d in ("ingest", "transform", f"train__{MODEL}")}

    assert {d: o.state for d, o in outcomes.items()} == dict.fromkeys(outcomes, "success"), {
        d: o.failed_tasks for d, o in outcomes.items()
    }
    transform = outcomes["transform"].task_states
    # The bike mart got no batch here: its validation skips, so no asset event asks to train the bike model.
    assert transform.pop("validate_ml_bike_demand_features") == "skipped"
    assert all(s == "success" for s in transform.values())
    warehouse = open_warehouse(settings)
    assert warehouse.fetch_all("select count(*) from raw.hotel_bookings") == [(DEMO_ROWS,)]
    # Every mart on the hotel data (this model's, and booking_outcome's) validates each of the 12 batches.
    assert warehouse.fetch_all(
        "select mart, count(*), sum(case when success then 1 else 0 end) from ops.validated_partitions "
        "group by mart order by mart"
    ) == [("ml_booking_features", 12, 12), ("ml_booking_outcome_features", 12, 12)]

    client = tracking.client(settings)
    assert register.alias_version(client, MODEL, register.CHAMPION) == "1"
    champion = client.get_model_version_by_alias(MODEL, register.CHAMPION)
    run_data = client.get_run(champion.run_id).data
    metrics, tags = run_data.metrics, run_data.tags
    assert metrics["holdout_roc_auc"] >= 0.88
    assert metrics["holdout_roc_auc"] - metrics["baseline_holdout_roc_auc"] >= 0.10
    assert metrics["holdout_value_per_1000"] > metrics["baseline_holdout_value_per_1000"]
    for tag in (
        "data_snapshot_sha256",
        "data_first_event",
        "data_last_event",
        "dbt_manifest_sha256",
        "git_revision",
        "lock_sha256",
        "spec_sha256",
    ):
        assert tags[f"flywheel.{tag}"] not in ("", "missing"), tag
    assert (tags["flywheel.data_first_event"], tags["flywheel.data_last_event"]) == ("2015-07-01", "2016-06-30")
    assert champion.tags["flywheel.blessed"] == "true"
    card = client.download_artifacts(champion.run_id, "model_card.md", str(settings.home / "tmp"))
    assert "## Holdout metrics vs the baseline" in Path(card).read_text()
    # The model's requirements are the stated ones with the installed versions, not whatever the training imported.
    import mlflow

    requirements = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}@{register.CHAMPION}/requirements.txt", dst_path=str(settings.home / "tmp")
    )
    pinned = Path(requirements).read_text().split()
    assert set(tracking.model_requirements()) < set(pinned), pinned
    assert not [r for r in pinned if r.startswith(("pytest", "rich", "apache-airflow"))], pinned
    events = warehouse.fetch_all("select event, version from ops.model_ledger order by recorded_at")
    assert events == [("blessed", "1"), ("promoted", "1")]

    _behaves_like_a_cancellation_model(client, champion.run_id)

    before = _fingerprint(settings)
    replay_months("2015-07", "2016-06")  # the same files land again
    again = {d: run(d) for d in ("ingest", "transform", f"train__{MODEL}")}
    assert {d: o.state for d, o in again.items()} == dict.fromkeys(again, "success")
    assert again["ingest"].task_states["publish_new_rows"] == "skipped"
    assert again["transform"].task_states["validate_ml_booking_features"] == "skipped"  # nothing new to validate
    assert _fingerprint(settings) == before


def _behaves_like_a_cancellation_model(client, run_id: str) -> None:
    """Behavioural checks on the champion (after Made-With-ML): directional and invariance."""
    import mlflow
    import pandas as pd

    model = mlflow.sklearn.load_model(f"models:/{MODEL}@{register.CHAMPION}")
    holdout = pd.read_parquet(client.download_artifacts(run_id, tracking.HOLDOUT_ARTIFACT, str(get_settings().home)))
    extra = ["booking_key", "arrival_date", "is_canceled", tracking.EVALUATED_SCORE_COLUMN]
    sample = holdout[holdout["deposit_type"] == "No Deposit"].head(500).drop(columns=extra)
    score = model.predict_proba(sample)[:, 1]
    # Directional: a non-refundable deposit is the strongest cancellation signal in this data.
    non_refund = model.predict_proba(sample.assign(deposit_type="Non Refund"))[:, 1]
    assert (non_refund >= score).mean() > 0.8
    # Directional on average: guests who asked for special requests cancel less.
    assert model.predict_proba(sample.assign(total_of_special_requests=3))[:, 1].mean() < score.mean()
    # Invariance: a booking's score does not depend on the other rows of the request.
    reversed_scores = model.predict_proba(sample.iloc[::-1])[:, 1][::-1]
    assert reversed_scores == pytest.approx(score)
    # Unseen categories and missing values are scored, not refused.
    odd = sample.head(3).assign(country_code=["XXX", None, "ATA"], agent=["99999", "none", None])
    assert model.predict_proba(odd).shape == (3, 2)


def test_bad_files_are_quarantined_good_ones_load_and_bad_partitions_never_train(run):
    settings = get_settings()
    landing = open_store(settings.landing_uri)
    (good_name,) = replay_months("2016-07", "2016-07")
    header, *rows = landing.read_bytes(good_name).decode().splitlines()
    columns = header.split(",")

    def write(name, lines):
        landing.write_bytes(name, ("\n".join(lines) + "\n").encode())

    write("hotel_bookings_2099-01.csv", [",".join(columns[:-1]), *(",".join(r.split(",")[:-1]) for r in rows[:50])])
    bad_number = rows[0].split(",")
    bad_number[columns.index("lead_time")] = "twelve"
    write("hotel_bookings_2099-02.csv", [header, ",".join(bad_number), *rows[1:50]])
    landing.write_bytes("hotel_bookings_2099-03.csv", b"")
    out_of_range = []
    for i, row in enumerate(rows[:300]):  # parses fine, so ingest loads it; the GX suite must stop it
        fields = row.split(",")
        if i < 5:
            fields[columns.index("adr")] = "99999"
        out_of_range.append(",".join(fields))
    write("hotel_bookings_2099-04.csv", [header, *out_of_range])

    ingest = run("ingest")
    assert ingest.state == "failed" and ingest.failed_tasks == ["check_quarantine"]
    assert ingest.task_states["publish_new_rows"] == "success"
    warehouse = open_warehouse(settings)
    loaded = dict(
        warehouse.fetch_all(
            "select _batch_id, count(*) from raw.hotel_bookings "
            "where _batch_id in ('hotel_bookings_2016-07', 'hotel_bookings_2099-04') "
            "group by 1"
        )
    )
    assert loaded == {"hotel_bookings_2016-07": 4572, "hotel_bookings_2099-04": 300}
    quarantine = open_store(settings.quarantine_uri)
    rules = {
        json.loads(quarantine.read_bytes(n))["batch_id"]: json.loads(quarantine.read_bytes(n))["violations"][0]
        for n in quarantine.list("*/reason.json")
    }
    assert {b: (v["column"], v["rule"]) for b, v in rules.items()} == {
        "hotel_bookings_2099-01": ("reservation_status_date", "column_present"),
        "hotel_bookings_2099-02": ("lead_time", "parses_as_integer"),
        "hotel_bookings_2099-03": (None, "not_empty"),
    }

    transform = run("transform")
    # The batch breaks both suites on the hotel data (adr): each mart's validation fails and quarantines it.
    assert transform.state == "failed" and sorted(transform.failed_tasks) == [
        "validate_ml_booking_features",
        "validate_ml_booking_outcome_features",
    ]
    assert warehouse.fetch_all("select mart, batch_id from ops.quarantined_batches order by mart") == [
        ("ml_booking_features", "hotel_bookings_2099-04"),
        ("ml_booking_outcome_features", "hotel_bookings_2099-04"),
    ]
    reason = warehouse.fetch_all("select reason from ops.quarantined_batches where mart = 'ml_booking_features'")[0][0]
    assert "column 'adr' failed expect_column_values_to_be_between" in reason and "5 rows" in reason
    result = json.loads(quarantine.read_bytes("hotel_bookings_2099-04/validation/ml_booking_features.json"))
    assert {f["column"] for f in result["failures"]} >= {"adr"}

    train = run(f"train__{MODEL}")  # new good data (2016-07): a new version, gated against the champion
    assert train.state == "success", train.failed_tasks
    client = tracking.client(settings)
    challenger = client.get_model_version_by_alias(MODEL, register.CHALLENGER)
    tags = client.get_run(challenger.run_id).data.tags
    assert tags["flywheel.data_excluded_batches"] == "hotel_bookings_2099-04"
    assert tags["flywheel.data_last_event"] == "2016-07-31"
    assert register.alias_version(client, MODEL, register.CHAMPION) == "1"  # the canary, not training, promotes
    assert challenger.tags["flywheel.gated_against_champion"] == "1"


def test_batch_scoring_and_the_canary_dag(run):
    """score__ logs every new mart row once with the routing rule; canary__ starts a blessed challenger."""
    settings = get_settings()
    client = tracking.client(settings)
    scored = run(f"score__{MODEL}")
    assert scored.state == "success"
    warehouse = open_warehouse(settings)
    expected = warehouse.fetch_all(
        "select count(*) from marts.ml_booking_features where batch_id not in "
        "(select batch_id from ops.quarantined_batches)"
    )[0][0]
    logged = warehouse.fetch_all(
        "select count(*), count(distinct entity_id), min(source), max(source), max(arm) from ops.prediction_log"
    )
    assert logged == [(expected, expected, "batch", "batch", "champion")]  # no canary yet: the champion answers
    assert run(f"score__{MODEL}").state == "success"
    assert warehouse.fetch_all("select count(*) from ops.prediction_log")[0][0] == expected  # nothing twice

    challenger = register.alias_version(client, MODEL, register.CHALLENGER)
    blessed = client.get_model_version(MODEL, challenger).tags["flywheel.blessed"] == "true"
    assert run(f"canary__{MODEL}").state == "success"
    last = warehouse.fetch_all("select event, version from ops.model_ledger order by recorded_at desc limit 1")
    if blessed:
        assert last == [("canary_started", challenger)]
    else:
        assert last[0][0] != "canary_started"


def _state(settings) -> dict[str, object]:
    """Everything a run could add: rows of every warehouse table, files in every store, registry versions."""
    warehouse = open_warehouse(settings)
    tables = warehouse.fetch_all(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw', 'staging', 'marts', 'ops') order by 1, 2"
    )
    client = tracking.client(settings)
    return {
        "rows": {f"{s}.{t}": warehouse.fetch_all(f"select count(*) from {s}.{t}")[0][0] for s, t in tables},
        "files": {
            uri: len(open_store(uri).list())
            for uri in (settings.archive_uri, settings.quarantine_uri, settings.reports_uri, settings.predictions_uri)
        },
        "versions": sorted((v.name, v.version) for v in client.search_model_versions()),
    }


@pytest.mark.reliability
def test_running_every_dag_again_adds_no_rows_files_or_versions(run, dags):
    """Scenario 3 of docs/reliability.md: every DAG runs once more after the loop above (the monitors' first
    run, the canary's first look at its evidence, booking_outcome's first champion), in the loop's order; then each
    runs again on the same data: nothing may change."""
    settings = get_settings()
    stage = ("ingest", "transform", "train__", "score__", "canary__", "monitor__")
    dag_ids = sorted(dags, key=lambda d: (next(i for i, s in enumerate(stage) if d.startswith(s)), d))
    first = {dag_id: run(dag_id).state for dag_id in dag_ids}
    # The bike model has no data in this loop: a run of its training has nothing to train on and says so.
    assert {d for d, s in first.items() if s != "success"} == {"train__bike_demand"}, first
    before = _state(settings)
    states = {dag_id: run(dag_id).state for dag_id in dag_ids}
    assert states == first
    after = _state(settings)
    changed = {
        part: {k: (before[part].get(k), v) for k, v in after[part].items() if before[part].get(k) != v}
        for part in ("rows", "files")
    }
    ledger = open_warehouse(settings).fetch_all(
        "select event, actor, reason from ops.model_ledger order by recorded_at desc limit 2"
    )
    assert after == before, (changed, states, ledger)
    print(
        f"\nre-ran {len(states)} DAGs ({states}): {sum(before['rows'].values())} rows in "
        f"{len(before['rows'])} tables, {sum(before['files'].values())} files, {len(before['versions'])} versions"
    )


def test_a_failing_dbt_test_fails_its_node_task_by_name_and_the_other_source_goes_on(run, dags, capsys, caplog):
    """One `dbt build` per transform run, one task per dbt node: a raw hotel row without its hotel fails the
    source's not_null test; that source's task fails naming the test (dbt's lines in its log), the hotel models
    after it do not run, the bike source's tasks succeed. Removing the row and running again repairs it."""
    from flywheel.orchestration.runner import run_dag

    settings = get_settings()
    warehouse = open_warehouse(settings)
    warehouse.execute(
        "insert into raw.hotel_bookings select * replace (null as hotel, 'test_broken_row' as _batch_id) "
        "from raw.hotel_bookings limit 1"
    )
    log_file = settings.home / "logs" / "test-transform-broken.log"
    try:
        broken = run_dag(dags["transform"], log_file)
    finally:
        warehouse.execute("delete from raw.hotel_bookings where _batch_id = 'test_broken_row'")
    states = broken.task_states
    source = "dbt.hotels_hotel_bookings_source"
    assert broken.state == "failed" and [t for t, s in states.items() if s == "failed"] == [source], states
    assert states["dbt.build"] == "success"  # dbt ran; the node tasks report what it found
    assert states["dbt.stg_hotels__bookings_model_build"] == "upstream_failed"
    assert states["validate_ml_booking_features"] == "upstream_failed"
    bike = [t for t in states if "bike" in t and t.startswith("dbt.")]
    assert len(bike) == 4 and {states[t] for t in bike} == {"success"}, states
    # The task logs: under pytest, its captured output and log records rather than the file.
    text = log_file.read_text() + capsys.readouterr().out + caplog.text
    assert "dbt hotels_hotel_bookings: test source_not_null_hotels_hotel_bookings_hotel fail (1 failing rows)" in text
    # dbt's own line about it, in the source task's part of the log (uncoloured)
    assert re.search(r"dbt: \d+ of \d+ FAIL 1 source_not_null_hotels_hotel_bookings_hotel .* \[FAIL 1 in", text)

    repaired = run("transform")
    assert repaired.state == "success", repaired.failed_tasks
