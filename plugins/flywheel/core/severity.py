"""How bad a monitored window is, in order: the drift verdict, the alert routes and the retrain policy all rank it."""

from __future__ import annotations

from typing import Literal

Severity = Literal["insufficient_data", "none", "warning", "critical"]

SEVERITY_ORDER: dict[str, int] = {"insufficient_data": -1, "none": 0, "warning": 1, "critical": 2}
