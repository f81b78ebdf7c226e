"""A model's deployment history, read from the ledger: which version answered what share of traffic, from when to
when, who moved it and why (what MLflow's registry does not keep: an alias has no past).

Pure functions over typed ledger rows, so the CLI, the model view and the tests read the same history. Times are
the data's time where the entry has one (``as_of``: in production the time of the decision, in a replay the
replayed time), else the time the entry was written."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

# Ledger events that change what answers traffic; every other entry (gate verdicts, waits, monitor) does not.
ROUTING_EVENTS = frozenset({"promoted", "canary_started", "canary_advanced", "rolled_back"})


@dataclass(frozen=True)
class LedgerRow:
    """One ledger entry as the history reads it."""

    version: str
    event: str
    actor: str
    reason: str
    evidence: Mapping[str, Any]
    recorded_at: datetime

    @property
    def at(self) -> datetime:
        as_of = self.evidence.get("as_of")
        return datetime.fromisoformat(str(as_of)).replace(tzinfo=None) if as_of else self.recorded_at

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LedgerRow:
        """A row of ``ops.model_ledger`` (``ledger.history``)."""
        evidence = record.get("evidence") or "{}"
        recorded = record["recorded_at"]
        return cls(
            version=str(record["version"]),
            event=str(record["event"]),
            actor=str(record["actor"]),
            reason=str(record["reason"]),
            evidence=json.loads(evidence) if isinstance(evidence, str) else dict(evidence),
            recorded_at=recorded.to_pydatetime() if hasattr(recorded, "to_pydatetime") else recorded,
        )


@dataclass(frozen=True)
class RoutingPeriod:
    """From ``start`` to ``end`` (None: still so), @champion answered ``1 - challenger_share`` of the entities and
    @challenger ``challenger_share`` (0 in shadow, where it scores every record but answers none)."""

    start: datetime
    end: datetime | None
    champion: str | None
    challenger: str | None
    challenger_share: float
    shadow: bool
    changed_by: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "start": self.start.isoformat(), "end": self.end and self.end.isoformat()}


@dataclass
class VersionService:
    """One version's time in service: as @champion and as @challenger (in shadow or answering a share)."""

    version: str
    first_answered: datetime | None = None
    last_answered: datetime | None = None  # None with first_answered set: answering now
    champion_days: float = 0.0
    challenger_days: float = 0.0
    shadow_days: float = 0.0
    outcome: str = ""  # champion | in canary | replaced | rolled back
    periods: list[RoutingPeriod] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        iso = lambda t: t and t.isoformat()  # noqa: E731
        return {
            "version": self.version,
            "first_answered": iso(self.first_answered),
            "last_answered": iso(self.last_answered),
            "champion_days": round(self.champion_days, 2),
            "challenger_days": round(self.challenger_days, 2),
            "shadow_days": round(self.shadow_days, 2),
            "outcome": self.outcome,
        }


def _first_share(evidence: Mapping[str, Any]) -> tuple[float, bool]:
    """A canary's first stage: its share and whether it is shadow (the gate's evidence may settle shadow)."""
    stages = list(evidence.get("stages") or ["shadow"])
    first = 1 if evidence.get("gate_settles_shadow") and len(stages) > 1 else 0
    return _stage(stages, first)


def _stage(stages: Sequence[Any], step: int) -> tuple[float, bool]:
    value = stages[min(step, len(stages) - 1)]
    return (0.0, True) if value == "shadow" else (float(value) / 100, False)


def routing_periods(rows: Iterable[LedgerRow]) -> list[RoutingPeriod]:
    """Replay the routing events in time order into the periods between them."""
    periods: list[RoutingPeriod] = []
    champion: str | None = None
    challenger: str | None = None
    share, shadow = 0.0, False
    stages: list[Any] = ["shadow"]
    # In the order the entries were written (what happened first), each dated by the data's time.
    for row in sorted((r for r in rows if r.event in ROUTING_EVENTS), key=lambda r: (r.recorded_at, r.at)):
        if row.event == "promoted":
            champion, challenger, share, shadow = row.version, None, 0.0, False
        elif row.event == "canary_started":
            stages = list(row.evidence.get("stages") or ["shadow"])
            challenger, (share, shadow) = row.version, _first_share(row.evidence)
        elif row.event == "canary_advanced" and row.version == challenger:
            step = int(row.evidence.get("step", 0)) + 1
            share, shadow = (
                (float(row.evidence["new_share"]), False) if "new_share" in row.evidence else _stage(stages, step)
            )
        elif row.event == "rolled_back" and row.version == challenger:
            challenger, share, shadow = None, 0.0, False
        else:
            continue
        if periods and periods[-1].end is None:
            periods[-1] = replace(periods[-1], end=row.at)
        periods.append(RoutingPeriod(row.at, None, champion, challenger, share, shadow, row.actor, row.reason))
    return [p for p in periods if p.end is None or p.end > p.start]


def time_in_service(periods: Sequence[RoutingPeriod], now: datetime) -> list[VersionService]:
    """Per version (in order of first appearance): when it first and last answered, days as champion, as an
    answering challenger and in shadow, and how its service ended."""
    services: dict[str, VersionService] = {}
    for period in periods:
        for version in (period.champion, period.challenger):
            if version is not None:
                _count(services.setdefault(version, VersionService(version)), period, now)
    last = periods[-1] if periods else None
    for service in services.values():
        service.outcome = _outcome(service, last)
    return list(services.values())


def _count(service: VersionService, period: RoutingPeriod, now: datetime) -> None:
    days = ((period.end or now) - period.start).total_seconds() / 86400
    service.periods.append(period)
    if service.version == period.champion:
        service.champion_days += days
        answering = period.challenger_share < 1
    else:
        answering = period.challenger_share > 0
        if period.shadow:
            service.shadow_days += days
        else:
            service.challenger_days += days
    if answering:
        service.first_answered = service.first_answered or period.start
        service.last_answered = period.end


def _outcome(service: VersionService, last: RoutingPeriod | None) -> str:
    if last is not None and last.end is None and service.version == last.champion:
        return "champion"
    if last is not None and last.end is None and service.version == last.challenger:
        return "in canary"
    return "replaced" if any(p.champion == service.version for p in service.periods) else "rolled back"


def history_clock(rows: Sequence[LedgerRow], wall_now: datetime, judged_until: datetime | None = None) -> datetime:
    """Where an open period ends for counting its days: now, unless the entries were decided by a replay's clock
    (their data time days away from when they were written): then the latest data time the replay reached, its
    entries' or the end of the last window its monitor judged (``judged_until``), whichever is later."""
    dated = [r for r in rows if "as_of" in r.evidence]
    replayed = any(abs((r.at - r.recorded_at).total_seconds()) > 86400 for r in dated)
    if not replayed:
        return wall_now
    return max([r.at for r in dated] + ([judged_until] if judged_until else []))


def deployment_history(warehouse: Any, model: str) -> tuple[list[RoutingPeriod], list[VersionService]]:
    """The model's routing periods and each version's time in service, from its ledger."""
    from flywheel.monitoring import history as monitor_history
    from flywheel.registry import ledger

    rows = [LedgerRow.from_record(r) for r in ledger.history(warehouse, model, limit=100_000)]
    periods = routing_periods(rows)
    windows = monitor_history.decisions(warehouse, model)
    judged = windows["window_end"].max() if len(windows) else None
    judged_until = None if judged is None else judged.to_pydatetime()
    now = history_clock(rows, datetime.now(UTC).replace(tzinfo=None), judged_until)
    return periods, time_in_service(periods, now)
