"""How a model's later versions are trained: from scratch, or by continuing the champion (``retrain:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flywheel.specs.strict import Strict

# The estimators whose fitted ensemble can be continued with more iterations on new rows (training.warm_start).
WARM_STARTABLE = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


class RetrainSpec(Strict):
    """``full`` (the default): every version is searched and fitted from scratch on every labelled month, as the
    first one. ``warm_start``: a retrain continues the champion's fitted ensemble with ``extra_iterations`` more
    iterations fitted on the months that arrived since it was fitted (``continue_on: all_months``: on every
    labelled month, so the new iterations correct the champion where it is now wrong without pulling it towards the
    latest months alone), with its hyper-parameters, preprocessing and decision threshold, and no search (a
    fraction of a full training's cost). A full training still happens for the
    first version, every ``full_every``-th version after a full one (at most ``full_every - 1`` warm starts in a
    row: small corrections pile up), and right after a warm-started version the gate refused. The gate's forgetting
    check (``gates.max_forgetting``) refuses a version that lost what the champion knew."""

    strategy: Literal["full", "warm_start"] = "full"
    extra_iterations: int = Field(default=50, ge=1, description="iterations a warm start adds")
    full_every: int = Field(default=4, ge=1, description="every Nth version after a full one is full again")
    continue_on: Literal["new_months", "all_months"] = Field(
        default="new_months",
        description="the rows the added iterations are fitted on: the months since the champion's, or every month",
    )
