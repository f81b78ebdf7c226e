"""`flywheel demo` plans each model from its own data: the sources found through dbt lineage from its mart, its
first year before the first training, the rest through the loop."""

from __future__ import annotations

import pytest

from flywheel.demo import demo_plan
from flywheel.settings import get_settings


@pytest.mark.parametrize(
    ("model", "tables", "initial", "loop"),
    [
        ("hotel_cancellation", ["raw.hotel_bookings"], ("2015-07", "2016-06"), ("2016-07", "2017-08", 14)),
        ("bike_demand", ["raw.bike_hourly_rentals"], ("2011-01", "2011-12"), ("2012-01", "2012-12", 12)),
    ],
)
def test_each_model_replays_its_own_sources(model, tables, initial, loop):
    plan = demo_plan(model, get_settings())
    assert plan.tables == tables
    assert (plan.initial[0], plan.initial[-1], len(plan.initial)) == (*initial, 12)
    assert (plan.loop[0], plan.loop[-1], len(plan.loop)) == loop


def test_months_can_be_narrowed_and_a_wrong_range_says_what_there_is():
    plan = demo_plan("bike_demand", get_settings(), first="2011-03", last="2011-10", loop_last="2012-02")
    assert (plan.initial[0], plan.initial[-1], plan.loop) == (
        "2011-03",
        "2011-10",
        ["2011-11", "2011-12", "2012-01", "2012-02"],
    )
    with pytest.raises(ValueError, match=r"it has 2011-01 \.\. 2012-12"):
        demo_plan("bike_demand", get_settings(), first="2015-01", last="2015-12")
