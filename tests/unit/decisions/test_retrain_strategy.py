"""How the next version is trained: in full without a champion, when the spec says so, after a refused warm start
and every ``full_every``-th version; otherwise by continuing the champion, with the reason each time."""

from __future__ import annotations

import pytest

from flywheel.decisions.retrain_strategy import Lineage, training_strategy
from flywheel.specs.retrain import RetrainSpec

WARM = RetrainSpec(strategy="warm_start", extra_iterations=40, full_every=3)


def test_the_first_version_and_a_full_policy_train_in_full():
    assert training_strategy(WARM, Lineage(None)).strategy == "full"
    decided = training_strategy(RetrainSpec(), Lineage("4"))
    assert (decided.strategy, decided.warm_starts, decided.reason) == ("full", 0, "full: the spec's retrain.strategy")


def test_warm_starts_run_in_a_row_until_full_every_then_a_full_one():
    history, champion_warm_starts = [], 0
    for version in range(1, 8):  # every version is promoted: the next continues it
        decided = training_strategy(WARM, Lineage(str(version), champion_warm_starts))
        history.append(decided.strategy)
        champion_warm_starts = decided.warm_starts
    assert history == ["warm_start", "warm_start", "full", "warm_start", "warm_start", "full", "warm_start"]
    decided = training_strategy(WARM, Lineage("9", 2))
    assert decided.reason == "full: v9 is warm start 2 in a row, the most retrain.full_every: 3 allows"


def test_a_warm_start_the_gate_refused_is_followed_by_a_full_training():
    decided = training_strategy(WARM, Lineage("3", 0, refused_warm_start="4"))
    assert (decided.strategy, decided.reason) == ("full", "full: the last warm start (v4) was refused by the gate")
    decided = training_strategy(WARM, Lineage("3", 1))
    assert (decided.strategy, decided.warm_starts) == ("warm_start", 2)
    assert decided.reason == "warm start: 40 more iterations on v3"


def test_a_request_may_force_a_full_training_and_nothing_else():
    decided = training_strategy(WARM, Lineage("3", 1), requested="full")
    assert (decided.strategy, decided.reason) == ("full", "full: the request asked for it (strategy: full)")
    with pytest.raises(ValueError, match="strategy 'full' only, not 'warm'"):
        training_strategy(WARM, Lineage("3", 1), requested="warm")
