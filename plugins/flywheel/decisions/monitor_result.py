"""What one monitor run decided about one window: the row ``ops.monitor_decisions`` keeps and the result the
``monitor__<model>`` DAG passes from task to task (as JSON through XCom, parsed back into this type)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

Action = Literal["none", "retrain", "suppressed", "page"]


class MonitorResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    mode: Literal["live", "what_if"]
    window_start: datetime
    window_end: datetime
    champion: str  # "-" before the first champion
    severity: str
    drifted: tuple[str, ...] = ()
    quality_drop: float | None = None  # champion's holdout metric minus the live one (positive = worse)
    action: Action
    trigger_kind: str | None = None  # drift | quality | no_champion
    reason: str
    report_uri: str = ""
    packet: str = ""  # the alert packet's key in the report store when on-call hears of this window, else ""
    already_judged: bool = False  # a re-run that kept the window's first decision

    @field_validator("quality_drop", mode="before")
    @classmethod
    def _nan_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, float) and math.isnan(value) else value

    @field_validator("trigger_kind", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value is None or (isinstance(value, float) and math.isnan(value)) or value == "" else value

    @property
    def requests_retrain(self) -> bool:
        """A live, first-time decision to retrain: what emits the retrain Asset event."""
        return self.mode == "live" and self.action == "retrain" and not self.already_judged

    @property
    def alerting(self) -> bool:
        return bool(self.packet) and self.mode == "live"

    def record(self) -> dict[str, Any]:
        """The ``ops.monitor_decisions`` row (without model, mode and decided_at, which the history adds)."""
        return {
            "window_start": self.window_start,
            "window_end": self.window_end,
            "champion": self.champion,
            "severity": self.severity,
            "drifted": ",".join(self.drifted),
            "quality_drop": self.quality_drop,
            "action": self.action,
            "trigger_kind": self.trigger_kind,
            "reason": self.reason,
            "report_uri": self.report_uri,
        }

    @classmethod
    def from_record(cls, row: dict[str, Any], packet: str = "", already_judged: bool = False) -> MonitorResult:
        """A row of ``ops.monitor_decisions`` (as the warehouse returns it) back into a result."""
        fields = {k: row[k] for k in cls.model_fields if k in row and k not in ("drifted", "packet", "already_judged")}
        for key in ("window_start", "window_end"):
            fields[key] = _as_datetime(fields[key])
        drifted = tuple(filter(None, str(row.get("drifted") or "").split(",")))
        return cls(**fields, drifted=drifted, packet=packet, already_judged=already_judged)


def _as_datetime(value: Any) -> datetime:
    """A warehouse timestamp (datetime, pandas Timestamp or ISO text) as a naive datetime."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    if not isinstance(value, datetime):  # pandas' Timestamp is a datetime
        raise TypeError(f"not a timestamp: {value!r}")
    return datetime.combine(value.date(), value.time())
