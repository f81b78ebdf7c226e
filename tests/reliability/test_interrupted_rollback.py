"""A rollback cut short after any of its steps (canary state, ledger entry, alias removal) is finished by its retry
or by the next canary run: @challenger ends removed, its canary state says rolled back, the ledger holds exactly one
`rolled_back` entry for it, and from the first step on it gets no traffic.

Each step of a rollback is its own write to the registry or the warehouse, with nothing held in memory between
them, so stopping the process right after a step is the same as raising there: the test raises, in-process, after
each step in turn (the training kill loop covers promotion with real SIGKILLs)."""

from __future__ import annotations

import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.jobs import canary as canary_job
from flywheel.registry import canary_state, ledger, promote, register, tracking
from flywheel.settings import Settings, get_settings
from flywheel.workspace import Workspace

pytestmark = pytest.mark.reliability

NAME = "hotel_cancellation"  # the canary job reads this model's spec
STEPS = {  # the rollback's steps, in order: the function each one calls
    "canary state": (canary_state, "write"),
    "ledger entry": (ledger, "record"),
}


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler on the way out can tidy up after it."""


@pytest.fixture
def registry(tmp_path):
    settings = Settings(home=tmp_path, project_dir=get_settings().project_dir)
    client = tracking.client(settings)
    client.create_registered_model(NAME)
    for _ in range(2):
        client.create_model_version(NAME, source=(tmp_path / "model").as_uri())
    client.set_registered_model_alias(NAME, register.CHAMPION, "1")
    client.set_registered_model_alias(NAME, register.CHALLENGER, "2")
    now = canary_state.now_iso()
    canary_state.write(
        client, NAME, "2", status="running", step=1, share=0.25, started_at=now, step_started_at=now, champion="1"
    )
    return settings, client, open_warehouse(settings)


def _killed_after(monkeypatch, step: str) -> None:
    module, attribute = STEPS[step]
    real = getattr(module, attribute)

    def then_killed(*args, **kwargs):
        real(*args, **kwargs)
        raise Killed(f"killed after the {step}")

    monkeypatch.setattr(module, attribute, then_killed)


def _rollbacks(warehouse) -> list[dict]:
    return [e for e in ledger.history(warehouse, NAME, limit=100) if e["event"] == "rolled_back"]


@pytest.mark.parametrize("retry_by", ["rollback again", "the next canary run"])
@pytest.mark.parametrize("step", list(STEPS))
def test_a_rollback_killed_after_a_step_is_finished_by_its_retry(registry, monkeypatch, step, retry_by):
    settings, client, warehouse = registry
    with monkeypatch.context() as patched:
        _killed_after(patched, step)
        with pytest.raises(Killed):
            promote.rollback(NAME, "test", "canary failed", client, warehouse, settings)

    # Between the kill and the retry: the challenger already gets no traffic, and @champion never moved.
    assert canary_state.read(client, NAME, "2").share == 0
    assert register.alias_version(client, NAME, register.CHAMPION) == "1"

    if retry_by == "rollback again":
        assert promote.rollback(NAME, "test", "canary failed", client, warehouse, settings) == "2"
    else:
        decision = canary_job.analyse_canary(Workspace(settings), NAME, "test")
        assert decision.action == "rollback" and decision.version == "2", decision

    assert register.alias_version(client, NAME, register.CHALLENGER) is None
    assert canary_state.read(client, NAME, "2").status == "rolled_back"
    # One entry: the killed run's if it got that far, else the retry's (the canary run says it finished a rollback).
    written = step == "ledger entry" or retry_by == "rollback again"
    reason = "canary failed" if written else "finishing an interrupted rollback (@challenger was still set)"
    assert [(e["version"], e["reason"]) for e in _rollbacks(warehouse)] == [("2", reason)]
    # Once finished, neither path finds anything left to do.
    assert promote.rollback(NAME, "test", "again", client, warehouse, settings) is None
    assert canary_job.analyse_canary(Workspace(settings), NAME, "test").action == "none"
    assert len(_rollbacks(warehouse)) == 1
