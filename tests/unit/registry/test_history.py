"""The deployment history read from ledger rows: routing periods and each version's time in service."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from flywheel.registry.history import LedgerRow, history_clock, routing_periods, time_in_service

T0 = datetime(2016, 7, 1)
WRITTEN = datetime(2026, 12, 1)  # every entry written on one day of a replay: the data's time orders them


def _row(day: int, version: str, event: str, **evidence: object) -> LedgerRow:
    at = (T0 + timedelta(days=day)).isoformat()
    written = WRITTEN + timedelta(seconds=day)  # a replay writes its months minutes apart
    return LedgerRow(version, event, f"actor-{day}", f"{event} {version}", {"as_of": at, **evidence}, written)


LEDGER = [
    _row(0, "1", "promoted", previous_champion=None),
    _row(1, "1", "blessed"),  # not a routing event: no period
    _row(10, "2", "canary_started", stages=["shadow", 50], gate_settles_shadow=False),
    _row(17, "2", "canary_advanced", step=0, new_share=0.5),
    _row(24, "2", "promoted", previous_champion="1"),
    _row(40, "3", "canary_started", stages=["shadow", 50], gate_settles_shadow=True),  # the gate settled shadow
    _row(44, "2", "canary_advanced", step=0),  # not the challenger's: ignored
    _row(47, "3", "rolled_back"),
    _row(60, "-", "retrain_requested"),
]


def test_periods_follow_the_routing_events_in_the_order_written_dated_by_the_data():
    periods = routing_periods(reversed(LEDGER))  # the ledger reads newest first
    shape = [(p.start.day, p.champion, p.challenger, p.challenger_share, p.shadow) for p in periods]
    assert shape == [
        (1, "1", None, 0.0, False),
        (11, "1", "2", 0.0, True),
        (18, "1", "2", 0.5, False),
        (25, "2", None, 0.0, False),
        (10, "2", "3", 0.5, False),  # 2016-08-10: v3 starts at 50 % (shadow settled by the gate)
        (17, "2", None, 0.0, False),
    ]
    assert [p.end for p in periods[:-1]] == [p.start for p in periods[1:]]
    assert periods[-1].end is None
    assert periods[2].changed_by == "actor-17" and periods[2].why == "canary_advanced 2"


def test_time_in_service_per_version():
    periods = routing_periods(LEDGER)
    services = {s.version: s for s in time_in_service(periods, now=T0 + timedelta(days=60))}
    v1, v2, v3 = services["1"], services["2"], services["3"]
    assert (v1.champion_days, v1.first_answered, v1.last_answered, v1.outcome) == (24, T0, periods[3].start, "replaced")
    assert (v2.shadow_days, v2.challenger_days, v2.champion_days) == (7, 7, 36)
    assert v2.first_answered == T0 + timedelta(days=17) and v2.last_answered is None and v2.outcome == "champion"
    assert (v3.challenger_days, v3.outcome) == (7, "rolled back")


def test_a_canary_advance_without_its_share_reads_it_from_the_stages():
    rows = [
        _row(0, "1", "promoted"),
        _row(5, "2", "canary_started", stages=["shadow", 10, 50]),
        _row(6, "2", "canary_advanced", step=0),
        _row(7, "2", "canary_advanced", step=1),
    ]
    assert [p.challenger_share for p in routing_periods(rows)] == [0.0, 0.0, 0.1, 0.5]


def test_rows_from_the_ledger_table_parse_their_evidence():
    record = {
        "version": 3,
        "event": "promoted",
        "actor": "person:ana",
        "reason": "approved",
        "evidence": '{"as_of": "2016-09-01T00:00:00+00:00"}',
        "recorded_at": WRITTEN,
    }
    row = LedgerRow.from_record(record)
    assert (row.version, row.at) == ("3", datetime(2016, 9, 1))
    assert LedgerRow.from_record({**record, "evidence": "{}"}).at == WRITTEN  # no data time: when written


@pytest.mark.parametrize("rows", [[], [_row(0, "2", "rejected")]])
def test_no_promotion_no_history(rows):
    assert routing_periods(rows) == [] and time_in_service([], T0) == []


def test_the_clock_of_open_periods_is_the_replays_when_entries_were_replayed():
    wall = datetime(2026, 12, 3)
    assert history_clock(LEDGER, wall) == T0 + timedelta(days=60)  # data time years before it was written
    live = [LedgerRow("1", "promoted", "a", "r", {"as_of": "2026-12-01T10:00:00"}, datetime(2026, 12, 1, 10, 0, 5))]
    assert history_clock(live, wall) == wall
    assert history_clock([], wall) == wall
    # A replay's monitor judged windows after the last routing change: its history runs until then.
    assert history_clock(LEDGER, wall, judged_until=datetime(2016, 10, 1)) == datetime(2016, 10, 1)
