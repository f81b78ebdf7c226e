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
    started_at: str | None = None  # the data's time (the clock every time rule reads), ISO
    step_started_at: str | None = None  # the data's time, ISO
    champion: str | None = None  # the champion version the evidence is gathered against
    shadow: bool = False  # the challenger scores every record beside the champion and answers none
    # The wall-clock time the stage's routing took effect: it selects the prediction-log rows served under it (the
    # log's own clock). Never used for a time rule: in a replay the data's time and the wall clock differ.
    logged_from: str | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"
