"""Why train__<model> trains: a retrain request carries its reason; new data alone trains only the first model."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from flywheel.orchestration import assets
from flywheel.orchestration.train import training_reason

MODEL = "hotel_cancellation"


def _context(events: dict, conf: dict | None = None) -> dict:
    return {"triggering_asset_events": events, "dag_run": SimpleNamespace(conf=conf or {}, run_type="manual")}


def test_a_retrain_request_trains_with_the_monitors_reason():
    event = SimpleNamespace(extra={"reason": "critical drift in 2 windows in a row (window 2017-05-01 .. 2017-06-01)"})
    reason = training_reason(MODEL, _context({assets.retrain_requested(MODEL): [event]}))
    assert reason == event.extra["reason"]


def test_a_person_trains_by_hand_with_a_reason_in_the_conf():
    assert training_reason(MODEL, _context({}, {"reason": "new feature"})) == "new feature"
    assert training_reason(MODEL, _context({})).startswith("manual run")


@pytest.mark.parametrize(
    ("has_champion", "expected"), [(True, None), (False, "first validated data and no @champion yet")]
)
def test_new_data_alone_trains_only_while_there_is_no_champion(monkeypatch, has_champion, expected):
    monkeypatch.setattr("flywheel.jobs.train.has_champion", lambda workspace, name: has_champion)
    event = SimpleNamespace(extra={})
    assert training_reason(MODEL, _context({assets.validated_mart("ml_booking_features"): [event]})) == expected
