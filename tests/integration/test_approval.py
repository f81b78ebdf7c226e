"""A person approves or rejects the promotion a canary earned, in Airflow's REST API, and the deployment history
says who moved @champion and why.

The bike model's policy with ``canary.approval.required``: a challenger that passed its shadow stage on a month of
real traffic waits in ``canary__bike_demand``'s human-in-the-loop task. The DAG runs as in the embedded mode
(``dag.test()``, which waits for the answer); Airflow's api-server on the same metadata database takes the answer,
as it would from the Required actions page. One challenger is rejected (rolled back, the person's reason in the
ledger), the next approved (promoted by that person)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from flywheel.data.warehouse import open_warehouse
from flywheel.jobs import canary as canary_job
from flywheel.jobs import train as train_job
from flywheel.registry import register, tracking
from flywheel.specs import load_spec
from flywheel.workspace import Workspace
from flywheel_replay.traffic import month_end, month_records, post_records, wait_for_routing, wait_until_logged
from tests.airflow_api import AirflowAPI, background_process, wait_http
from tests.helpers import build_loop_until, flywheel_serve, free_port, settings_env

pytestmark = pytest.mark.integration

MODEL = "bike_demand"
MART = "ml_bike_demand_features"
DAG = f"canary__{MODEL}"
PASSWORD = secrets.token_urlsafe(16)
BIN = Path(sys.executable).parent
# The canary DAG run as `flywheel run` runs it, with the replayed time of its judgement in the run's conf.
RUN_CANARY = (
    "import json, sys\n"
    "from flywheel.cli import run_dags\n"
    "from flywheel.settings import apply_environment\n"
    "run_dags([sys.argv[1]], apply_environment(), json.loads(sys.argv[2]))\n"
)


def _environment(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """This home's Flywheel and embedded-Airflow settings, and the api-server's authentication."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW", "FLYWHEEL_", "DBT_"))}
    return {
        **keep,
        **settings_env(settings),
        **settings.airflow_env(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(settings.home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(48),
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory, template):
    settings = template(
        "bike_first_half_year",
        tmp_path_factory.mktemp("approval"),
        serve_refresh_seconds=0.2,
        serve_shadow_batch_seconds=0.1,
    )
    path = settings.models_dir / f"{MODEL}.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["canary"]["approval"] = {"required": True, "timeout_hours": 24, "on_timeout": "reject"}
    # A few months of a growing network: a challenger a month apart may be a few bikes an hour worse. The approval
    # is under test, not the gate or the canary's margin (their own tests hold them), so both tolerate that.
    spec["gates"]["max_drop_vs_champion"] = 50
    spec["canary"]["max_metric_drop"] = 50
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    environment = _environment(settings)
    (settings.home / "passwords.json").write_text(json.dumps({"admin": PASSWORD}))
    logs = settings.home / "process-logs"
    logs.mkdir()
    migrated = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=environment, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    port = free_port()
    with ExitStack() as stack:
        api = [str(BIN / "airflow"), "api-server", "--port", str(port)]
        stack.enter_context(background_process("api-server", api, environment, logs))
        url = stack.enter_context(flywheel_serve(settings, MODEL))
        wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", "Airflow api-server", logs)
        yield settings, environment, AirflowAPI(f"http://127.0.0.1:{port}", PASSWORD), url


def _challenger_in_shadow(settings, url: str, new_data: str, traffic: str) -> str:  # type: ignore[no-untyped-def]
    """Land ``new_data`` .. ``traffic``, train a challenger on all of it (its quality is not under test), start its
    canary (shadow) and replay the month ``traffic`` through the service: both arms score every hour."""
    build_loop_until(settings, traffic, new_data, mart=MART)  # one dbt build: the traffic month is in too
    workspace = Workspace(settings)
    version = train_job.register_model(workspace, MODEL, train_job.train(workspace, MODEL))
    assert train_job.gate_model(workspace, MODEL, version)
    started = canary_job.analyse_canary(Workspace(settings), MODEL, "test", now=datetime.fromisoformat(f"{traffic}-01"))
    assert started.action == "started" and started.reason.endswith("shadow"), started
    wait_for_routing(url, settings, MODEL)
    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    answered = post_records(url, month_records(spec, open_warehouse(settings), traffic))
    wait_until_logged(url)
    assert set(answered) == {"champion v1"}, answered  # shadow: the challenger answers nobody
    return version


def _judge_and_answer(environment, api: AirflowAPI, month: str, chosen: str, reason: str) -> dict:  # type: ignore[no-untyped-def]
    """The canary DAG judges the month; its approval task waits; a person answers through the REST API."""
    conf = json.dumps({"as_of": month_end(month)})
    run = subprocess.Popen(
        [sys.executable, "-c", RUN_CANARY, DAG, conf],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        request = api.waiting_for_input(DAG, timeout=240)
        api.answer(request, [chosen], reason=reason)
        output, _ = run.communicate(timeout=240)
    finally:
        run.kill()
    assert run.returncode == 0, output[-3000:]
    return request


def _ledger(settings) -> list[tuple[str, str, str, str]]:  # type: ignore[no-untyped-def]
    return [
        (str(v), str(e), str(a), str(r))
        for v, e, a, r in open_warehouse(settings).fetch_all(
            "select version, event, actor, reason from ops.model_ledger order by recorded_at"
        )
    ]


def test_a_rejected_promotion_rolls_back_with_the_persons_reason(env):
    settings, environment, api, url = env
    assert _challenger_in_shadow(settings, url, "2011-07", "2011-08") == "2"
    request = _judge_and_answer(environment, api, "2011-08", "Reject", "August evenings look worse to me")
    assert request["subject"] == f"Promote {MODEL} v2 to @champion?"
    assert "passed its canary against champion v1" in request["body"] and "MAE" in request["body"]
    assert request["options"] == ["Approve", "Reject"] and request["defaults"] == ["Reject"]
    # The pre-production checklist the gate checked, in the request and in the model card.
    assert "| data versioned with lineage | passed | snapshot " in request["body"]
    client = tracking.client(settings)
    card = client.download_artifacts(client.get_model_version(MODEL, "2").run_id, "model_card.md", str(settings.home))
    text = Path(card).read_text()
    assert text.count("## Pre-production checklist") == 1
    assert "| monitoring of quality, drift, latency and cost | passed" in text
    ledger = _ledger(settings)
    assert ("2", "approval_requested") in {(v, e) for v, e, _, _ in ledger}
    assert ledger[-1] == ("2", "rolled_back", "person:admin", "rejected by a person: August evenings look worse to me")
    client = tracking.client(settings)
    assert register.alias_version(client, MODEL, register.CHAMPION) == "1"
    assert register.alias_version(client, MODEL, register.CHALLENGER) is None


def test_an_approved_promotion_moves_champion_and_the_history_says_who(env):
    settings, environment, api, url = env
    assert _challenger_in_shadow(settings, url, "2011-09", "2011-10") == "3"
    _judge_and_answer(environment, api, "2011-10", "Approve", "checked the card")
    assert _ledger(settings)[-1] == ("3", "promoted", "person:admin", "approved by a person: checked the card")
    assert register.alias_version(tracking.client(settings), MODEL, register.CHAMPION) == "3"

    shown = subprocess.run(
        [str(BIN / "flywheel"), "history", MODEL, "--json"], env=environment, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    history = json.loads(shown.stdout)
    versions = {v["version"]: v for v in history["versions"]}
    assert versions["1"]["outcome"] == "replaced" and versions["3"]["outcome"] == "champion"
    assert versions["2"]["outcome"] == "rolled back" and versions["2"]["challenger_days"] == 0  # shadow only
    assert versions["2"]["shadow_days"] > 20
    last = history["periods"][-1]
    assert (last["champion"], last["changed_by"], last["end"]) == ("3", "person:admin", None)
    assert last["start"].startswith("2011-10-31")  # the data's time of the judgement, not the wall clock


def test_the_model_view_inside_airflows_ui_shows_the_models_versions_and_history(env):
    """Airflow's api-server loads the plugin (plugins/flywheel_ui.py): its nav entry and app are registered, and a
    real browser (headless Chromium) shows the page inside Airflow's UI with this home's model, its aliases and
    every version's time in service. The screenshot is kept: test-artifacts/model_view.png."""
    from playwright.sync_api import sync_playwright

    settings, _, api, _ = env
    plugins = {p["name"]: p for p in api.get("/plugins")["plugins"]}
    assert plugins["flywheel"]["external_views"][0]["url_route"] == "flywheel-models", plugins.get("flywheel")
    base = str(api.http.base_url).removesuffix("/api/v2/")
    token = api.http.headers["Authorization"].removeprefix("Bearer ")
    artifacts = settings.project_dir / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=os.environ.get("FLYWHEEL_BROWSER", "/usr/bin/chromium"))
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1600})
            context.add_cookies([{"name": "_token", "value": token, "url": base}])  # signed in, as after a login
            page = context.new_page()
            page.goto(f"{base}/plugin/flywheel-models")
            view = page.frame_locator("iframe").locator(f"section[data-model='{MODEL}']")
            view.wait_for(timeout=60_000)
            assert view.locator("[data-alias='champion']").inner_text() == "v3"
            assert view.locator("[data-alias='challenger']").inner_text() == "none"
            outcomes = {v: view.locator(f"tr[data-version='{v}'] td").last.inner_text() for v in "123"}
            assert outcomes == {"1": "replaced", "2": "rolled back", "3": "champion"}
            assert "approved by a person: checked the card" in view.locator("table.periods").inner_text()
            page.screenshot(path=str(artifacts / "model_view.png"), full_page=True)
        finally:
            browser.close()


def test_a_version_without_a_monitoring_policy_is_not_blessed_and_the_ledger_names_the_item(env, tmp_path):
    """The checklist blocks what its evidence does not support: no monitoring/<model>.yaml, no blessing."""
    settings, _, _, _ = env
    unmonitored = settings.model_copy(update={"monitoring_specs_dir": tmp_path})  # an empty policy folder
    build_loop_until(unmonitored, "2011-11", "2011-11", mart=MART)
    workspace = Workspace(unmonitored)
    version = train_job.register_model(workspace, MODEL, train_job.train(workspace, MODEL))
    assert not train_job.gate_model(workspace, MODEL, version)
    last = _ledger(settings)[-1]
    assert last[:2] == (version, "rejected")
    item = "pre-production checklist: monitoring of quality, drift, latency and cost failed (missing: a monitoring"
    assert item in last[3], last
