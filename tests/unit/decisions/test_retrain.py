"""Retraining that cannot loop: one retrain per cooldown under persistent drift, a budget, no retrain during a
canary or without new labels, a page instead of a second retrain when the same drift survives a retrain, and a
reason for every suppression."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from flywheel.decisions.retrain import RetrainRequest, WindowRecord, decide
from flywheel.specs import RetrainPolicySpec

POLICY = RetrainPolicySpec(
    critical_windows_in_a_row=2, cooldown_days=55, max_retrains=100, budget_period_days=365, min_new_labelled_rows=1000
)
START = datetime(2016, 8, 1)
DRIFTED = ("adr", "agent", "lead_time")


def _window(i: int, champion: str = "1", severity: str = "critical", drifted=DRIFTED, quality=None) -> WindowRecord:
    return WindowRecord(START + timedelta(days=30 * i), champion, severity, drifted, quality)


def _simulate(policy: RetrainPolicySpec, windows: int, **kwargs) -> list:
    """Persistent critical drift, every window judged against the same champion (the retrains do not promote)."""
    history, requests, decisions = [], [], []
    for i in range(windows):
        history.append(_window(i))
        decision = decide(policy, 0.03, history, requests, kwargs.get("canary", False), kwargs.get("labels", 5000))
        decisions.append((history[-1].window_end, decision))
        if decision.action == "retrain":
            requests.append(RetrainRequest(history[-1].window_end, decision.trigger, "1", DRIFTED))
    return decisions


def test_persistent_drift_retrains_exactly_once_per_cooldown_and_explains_every_suppression() -> None:
    decisions = _simulate(POLICY, 24)
    retrains = [end for end, d in decisions if d.action == "retrain"]
    cooldown = timedelta(days=POLICY.cooldown_days)
    # One retrain in each cooldown period: consecutive retrains at least a cooldown apart, and never two cooldowns.
    gaps = [b - a for a, b in itertools.pairwise(retrains)]
    assert retrains[0] == START + timedelta(days=30)  # the second critical window in a row
    assert all(cooldown <= gap < 2 * cooldown for gap in gaps), gaps
    assert len(retrains) == 12
    for end, decision in decisions:
        if decision.action == "suppressed":
            assert decision.reason.startswith("critical drift in") and "cooldown" in decision.reason
        else:
            assert decision.action in ("retrain", "none"), (end, decision)


def test_the_budget_caps_retrains_per_period() -> None:
    policy = POLICY.model_copy(update={"max_retrains": 3})
    decisions = _simulate(policy, 24)
    retrains = [end for end, d in decisions if d.action == "retrain"]
    for end in retrains:
        in_period = [r for r in retrains if end - timedelta(days=365) < r <= end]
        assert len(in_period) <= 3
    assert any("budget: 3 retrains" in d.reason for _, d in decisions)


def test_no_retrain_while_a_canary_runs_or_without_new_labels() -> None:
    history = [_window(0), _window(1)]
    canary = decide(POLICY, 0.03, history, [], canary_running=True, new_labelled_rows=5000)
    assert canary.action == "suppressed" and "a canary is running" in canary.reason
    unlabelled = decide(POLICY, 0.03, history, [], canary_running=False, new_labelled_rows=10)
    assert unlabelled.action == "suppressed" and "10 new labelled rows" in unlabelled.reason
    assert decide(POLICY, 0.03, history, [], False, 5000).action == "retrain"


def test_one_critical_window_or_a_warning_does_not_retrain() -> None:
    assert decide(POLICY, 0.03, [_window(0)], [], False, 5000).action == "none"
    warnings = [_window(0, severity="warning"), _window(1, severity="warning")]
    assert decide(POLICY, 0.03, warnings, [], False, 5000).action == "none"
    # a streak is judged against one champion: a promotion in between restarts it
    assert decide(POLICY, 0.03, [_window(0, "1"), _window(1, "2")], [], False, 5000).action == "none"


def test_a_quality_drop_retrains_once_labels_exist() -> None:
    history = [_window(0, severity="none", drifted=(), quality=0.05)]
    decision = decide(POLICY, 0.03, history, [], False, 5000)
    assert decision.action == "retrain" and decision.trigger == "quality"
    assert decide(POLICY.model_copy(update={"on_quality_drop": False}), 0.03, history, [], False, 5000).action == "none"


def test_the_same_drift_right_after_a_retrain_pages_a_person_instead() -> None:
    requests = [RetrainRequest(_window(1).window_end, "drift", "1", DRIFTED)]
    history = [_window(0), _window(1), _window(2, champion="2"), _window(3, champion="2")]
    page = decide(POLICY, 0.03, history[:3], requests, False, 5000)
    assert page.action == "page" and "persists on v2" in page.reason
    # other features drifting after the retrain is a new condition, not a loop
    other = [*history[:2], _window(2, champion="2", drifted=("meal",))]
    assert decide(POLICY, 0.03, other, requests, False, 5000).action != "page"
