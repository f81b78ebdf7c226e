"""Canary promotion on live evidence, with the real service (uvicorn on loopback) and a real MLflow registry:
a better challenger is promoted, a worse one is rolled back before it reaches full traffic, and the ledger holds
each decision with its numbers."""

from __future__ import annotations

import json
import time

import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.jobs import canary as canary_job
from flywheel.jobs import train as train_job
from flywheel.registry import canary_state, register, tracking
from flywheel.settings import Settings
from flywheel.specs import load_spec
from flywheel.workspace import Workspace
from flywheel_replay.traffic import month_end, month_records, post_records
from tests.factories import register_shuffled_label_challenger
from tests.helpers import build_loop_until, flywheel_serve

pytestmark = pytest.mark.integration

MODEL = "hotel_cancellation"
TRAFFIC_MONTHS = ["2016-09", "2016-10", "2016-11", "2016-12", "2017-01", "2017-02"]


def _train_challenger(settings: Settings) -> str:
    """train -> register -> gate, as the train DAG does with a champion in place: the blessed version waits as
    @challenger for the canary."""
    version = train_job.register_model(Workspace(settings), MODEL, train_job.train(Workspace(settings), MODEL))
    assert train_job.gate_model(Workspace(settings), MODEL, version)
    return version


@pytest.fixture(scope="module")
def env(tmp_path_factory, template):
    # The champion v1 (2015-07 .. 2016-06, the small spec: the canary's decisions are under test, not the model).
    settings = template("hotel_first_year", tmp_path_factory.mktemp("canary"), serve_refresh_seconds=0.2)
    build_loop_until(settings, "2016-08", "2016-07")
    assert _train_challenger(settings) == "2"  # a challenger that has seen two more months
    build_loop_until(settings, TRAFFIC_MONTHS[-1], TRAFFIC_MONTHS[0])  # traffic (and, later, its labels)
    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    with flywheel_serve(settings, MODEL) as url:
        yield settings, spec, url


def _replay_and_judge(settings, spec, url, month):
    from datetime import datetime

    time.sleep(0.5)  # the service picks up the new routing (refresh every 0.2 s)
    answered = post_records(url, month_records(spec, open_warehouse(settings), month))
    time.sleep(0.5)  # and writes its prediction log (every 0.1 s)
    canary_job.collect_predictions(Workspace(settings), MODEL, datetime.fromisoformat(month_end(month)))
    return answered, canary_job.analyse_canary(Workspace(settings), MODEL, "test").to_dict()


def _ledger(settings):
    return open_warehouse(settings).fetch_all(
        "select version, event, reason, evidence from ops.model_ledger order by recorded_at"
    )


def test_a_better_challenger_is_promoted_and_a_worse_one_rolled_back(env):
    settings, spec, url = env
    client = tracking.client(settings)
    started = canary_job.analyse_canary(Workspace(settings), MODEL, "test")
    assert started.action == "started"
    months = iter(TRAFFIC_MONTHS)
    decisions = []
    while not decisions or decisions[-1]["action"] not in ("promote", "rollback"):
        answered, decision = _replay_and_judge(settings, spec, url, next(months))
        decisions.append(decision)
        assert set(answered) <= {"champion v1", "challenger v2"}
    assert decisions[-1]["action"] == "promote", decisions
    assert register.alias_version(client, MODEL, register.CHAMPION) == "2"
    assert register.alias_version(client, MODEL, register.CHALLENGER) is None
    promoted = [row for row in _ledger(settings) if row[1] == "promoted" and row[0] == "2"]
    evidence = json.loads(promoted[0][3]).get("evidence")
    assert evidence, promoted
    assert evidence["challenger"]["labelled"] >= spec.canary.min_labelled_per_arm
    assert evidence["interval"][0] > -spec.canary.max_metric_drop

    bad = register_shuffled_label_challenger(MODEL, settings)
    assert canary_job.analyse_canary(Workspace(settings), MODEL, "test").action == "started"
    shares = []
    decision: dict[str, object] = {"action": "wait"}
    while decision["action"] == "wait":
        shares.append(canary_state.read(client, MODEL, bad).share)
        answered, decision = _replay_and_judge(settings, spec, url, next(months))
    assert decision["action"] == "rollback", decision
    assert max(shares) <= spec.canary.steps[0] / 100  # never past the first step, let alone 100 %
    assert "below" in decision["reason"]
    assert register.alias_version(client, MODEL, register.CHAMPION) == "2"
    assert register.alias_version(client, MODEL, register.CHALLENGER) is None
    assert canary_state.read(client, MODEL, bad).status == "rolled_back"
    events = [(v, e) for v, e, _, _ in _ledger(settings)]
    assert events[-1] == (bad, "rolled_back") and (bad, "canary_started") in events
    time.sleep(0.5)
    after = post_records(url, month_records(spec, open_warehouse(settings), "2017-02")[:200])
    assert after == {"champion v2": 200}  # the rolled-back version answers nobody


def test_manual_rollback_needs_a_reason(env):
    settings, *_ = env
    from flywheel.registry.promote import PromotionError

    with pytest.raises(PromotionError, match="reason"):
        canary_job.manual_rollback(Workspace(settings), MODEL, "someone", " ")
