"""Canary promotion on live evidence, with the real service (uvicorn on loopback) and a real MLflow registry:
a better challenger goes through shadow (scoring every booking beside the champion, answering none) and a live
share to promotion, a worse one is rolled back in shadow before it answers anyone, an inconclusive one ends at its
deadline in the replayed time, and the ledger holds each decision with its numbers."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

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
    settings = template(
        "hotel_first_year", tmp_path_factory.mktemp("canary"), serve_refresh_seconds=0.2, serve_shadow_batch_seconds=0.1
    )
    build_loop_until(settings, "2016-08", "2016-07")
    assert _train_challenger(settings) == "2"  # a challenger that has seen two more months
    build_loop_until(settings, TRAFFIC_MONTHS[-1], TRAFFIC_MONTHS[0])  # traffic (and, later, its labels)
    spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
    with flywheel_serve(settings, MODEL) as url:
        yield settings, spec, url


def _as_of(month: str) -> datetime:
    return datetime.fromisoformat(month_end(month))


def _replay_and_judge(settings, spec, url, month):
    time.sleep(0.5)  # the service picks up the new routing (refresh every 0.2 s)
    answered = post_records(url, month_records(spec, open_warehouse(settings), month))
    time.sleep(1.0)  # and writes its prediction log (every 0.1 s), the shadow's rows after the answers
    canary_job.collect_predictions(Workspace(settings), MODEL, _as_of(month))
    return answered, canary_job.analyse_canary(Workspace(settings), MODEL, "test", now=_as_of(month)).to_dict()


def _ledger(settings):
    return open_warehouse(settings).fetch_all(
        "select version, event, reason, evidence from ops.model_ledger order by recorded_at"
    )


def test_a_better_challenger_is_promoted_and_a_worse_one_rolled_back(env):
    settings, spec, url = env
    client = tracking.client(settings)
    assert spec.canary.stages[0] == "shadow"
    started = canary_job.analyse_canary(Workspace(settings), MODEL, "test", now=_as_of("2016-08"))
    assert started.action == "started"
    months = iter(TRAFFIC_MONTHS)
    decisions = []
    while not decisions or decisions[-1]["action"] not in ("promote", "rollback"):
        answered, decision = _replay_and_judge(settings, spec, url, next(months))
        decisions.append(decision)
        assert set(answered) <= {"champion v1", "challenger v2"}
    assert decisions[-1]["action"] == "promote", decisions
    start = next(json.loads(e) for v, event, _, e in _ledger(settings) if (v, event) == ("2", "canary_started"))
    # The served v2 was refitted on its holdout (split.final_fit), so the gate's comparison cannot stand in for
    # shadow: shadow first, paired evidence sized to detect the tolerated drop, then 50 %, then promotion.
    assert start["gate_settles_shadow"] is False
    shadow = decisions[0]
    assert shadow["action"] == "advance" and shadow["evidence"]["design"] == "paired", shadow
    assert shadow["evidence"]["mde"] <= spec.canary.max_metric_drop
    assert register.alias_version(client, MODEL, register.CHAMPION) == "2"
    assert register.alias_version(client, MODEL, register.CHALLENGER) is None
    promoted = [row for row in _ledger(settings) if row[1] == "promoted" and row[0] == "2"]
    evidence = json.loads(promoted[0][3]).get("evidence")
    assert evidence, promoted
    assert evidence["challenger"]["records"] >= spec.canary.min_live_records  # the live stage: real answers

    bad = register_shuffled_label_challenger(MODEL, settings)
    month = next(months)
    assert canary_job.analyse_canary(Workspace(settings), MODEL, "test", now=_as_of(month)).action == "started"
    decision: dict[str, object] = {"action": "wait"}
    while decision["action"] == "wait":
        assert canary_state.read(client, MODEL, bad).shadow
        month = next(months)
        answered, decision = _replay_and_judge(settings, spec, url, month)
        assert set(answered) == {"champion v2"}  # in shadow the bad challenger answered no one
    assert decision["action"] == "rollback", decision
    assert "below" in decision["reason"] and decision["evidence"]["design"] == "paired"
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


def test_an_inconclusive_canary_ends_at_its_deadline_in_replayed_time(env):
    """No traffic reaches the canary: 30 replayed days later it waits, past ``deadline_hours`` of replayed time
    it rolls back as inconclusive, though only seconds passed on the wall clock."""
    settings, spec, _ = env
    client = tracking.client(settings)
    version = register_shuffled_label_challenger(MODEL, settings)
    start = datetime(2017, 3, 1)
    assert canary_job.analyse_canary(Workspace(settings), MODEL, "test", now=start).action == "started"
    waiting = canary_job.analyse_canary(Workspace(settings), MODEL, "test", now=start + timedelta(days=30))
    assert waiting.action == "wait", waiting
    assert "labelled predictions" in waiting.reason
    late = start + timedelta(hours=spec.canary.deadline_hours + 1)
    ended = canary_job.analyse_canary(Workspace(settings), MODEL, "test", now=late)
    assert ended.action == "rollback" and f"inconclusive after {spec.canary.deadline_hours:g} h" in ended.reason
    assert canary_state.read(client, MODEL, version).status == "rolled_back"
    assert register.alias_version(client, MODEL, register.CHALLENGER) is None
