from __future__ import annotations

from flywheel.serving.routing import CHALLENGER_ARM, arm_for


def test_share_is_respected_and_stable():
    ids = [f"booking-{i}" for i in range(100_000)]
    arms = [arm_for("m", i, 0.10) for i in ids]
    share = arms.count(CHALLENGER_ARM) / len(ids)
    assert 0.097 <= share <= 0.103
    assert arms == [arm_for("m", i, 0.10) for i in ids]


def test_growing_the_share_keeps_the_challengers_entities():
    ids = [f"booking-{i}" for i in range(10_000)]
    at_10 = {i for i in ids if arm_for("m", i, 0.10) == CHALLENGER_ARM}
    at_50 = {i for i in ids if arm_for("m", i, 0.50) == CHALLENGER_ARM}
    assert at_10 <= at_50
    assert {i for i in ids if arm_for("other", i, 0.10) == CHALLENGER_ARM} != at_10  # models split independently
