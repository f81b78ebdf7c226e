"""`flywheel-replay demo` plans each model from its own data: the sources found through dbt lineage from its mart, its
first year before the first training, the rest through the loop."""

from __future__ import annotations

import itertools

import pytest

from flywheel.settings import get_settings
from flywheel_replay.loop import demo_plan

pytestmark = pytest.mark.usefixtures("dbt_manifest")  # the test home's manifest


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


def test_the_loop_can_be_cut_to_its_first_months_per_model():
    """`flywheel-replay demo --loop-months N`: each model's own first N loop months (the test suite's short replay)."""
    hotel, bike = (demo_plan(m, get_settings(), loop_months=6) for m in ("hotel_cancellation", "bike_demand"))
    assert (hotel.loop[0], hotel.loop[-1], len(hotel.loop)) == ("2016-07", "2016-12", 6)
    assert (bike.loop[0], bike.loop[-1], len(bike.loop)) == ("2012-01", "2012-06", 6)


@pytest.mark.parametrize(("month", "parts", "days"), [("2016-07", 2, [15, 16]), ("2016-02", 4, [7, 7, 7, 8])])
def test_the_canary_runs_after_parts_of_a_month_that_cover_it_exactly(month, parts, days):
    """Each part's traffic is replayed, then the canary judges at the part's last second (its ``as_of``)."""
    import pandas as pd

    from flywheel_replay.traffic import month_parts

    cut = month_parts(month, parts)
    assert (
        cut[0][0] == f"{month}-01"
        and cut[-1][1] == (pd.Timestamp(f"{month}-01") + pd.offsets.MonthBegin(1)).date().isoformat()
    )
    assert [(pd.Timestamp(end) - pd.Timestamp(first)).days for first, end, _ in cut] == days
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cut))  # contiguous: no day twice, none left out
    assert all(pd.Timestamp(as_of) == pd.Timestamp(end) - pd.Timedelta(seconds=1) for _, end, as_of in cut)
