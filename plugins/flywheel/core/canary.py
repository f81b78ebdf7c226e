"""A canary's state: which version, at which traffic step, since when, against which champion.

Kept as tags on the challenger's model version (``flywheel.registry.canary_state`` reads and writes them) so the
prediction service and the canary DAG read one place; decided on by ``flywheel.decisions.canary``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CanaryState:
    version: str | None
    status: str  # none | running | promoted | rolled_back (a tag's text: checked where it is read)
    step: int  # index into the spec's canary steps
    share: float  # 0..1 of entities routed to the challenger
    started_at: str | None = None
    step_started_at: str | None = None
    champion: str | None = None  # the champion version the evidence is gathered against

    @property
    def running(self) -> bool:
        return self.status == "running"
