"""The base of every spec: unknown keys are errors (a typo must not silently fall back to a default), and a spec
never changes once read."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
