"""The clock the loop decides by.

In production a decision happens now; in a replay (the demo, a what-if backfill) it happens at the event time of
the data being replayed, which the orchestration passes in. Code that decides takes ``now`` as an argument and only
the job at the edge asks this module, so a decision is a function of its inputs and a replay decides like live.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as a naive UTC datetime: the warehouse stores timestamps without a zone, in UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def iso_seconds(moment: datetime | None = None) -> str:
    """ISO 8601 to the second (``now`` by default), as kept in registry tags."""
    return (moment or utc_now()).isoformat(timespec="seconds")
