"""A model's canary policy: the stages a blessed challenger walks to @champion and what each must show."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator

from flywheel.specs.strict import Strict

SHADOW = "shadow"
Stage = float | Literal["shadow"]


class ApprovalPolicy(Strict):
    """A person's approval before the final promotion (``required``): the canary DAG asks in Airflow's UI and REST
    API (a human-in-the-loop task showing the evidence) and waits; a rejection rolls back with the person's reason.
    After ``timeout_hours`` without an answer, ``on_timeout`` is taken: ``reject`` (roll back) or ``approve``."""

    required: bool = False
    timeout_hours: float = Field(default=48, gt=0)
    on_timeout: Literal["reject", "approve"] = "reject"
    approvers: tuple[str, ...] = Field(
        default=(), description="Airflow user ids who may answer (default: anyone allowed to act on the DAG)"
    )


class CanarySpec(Strict):
    """How a blessed challenger earns @champion on live traffic, stage by stage (``stages``; ``steps`` is read too).

    A ``shadow`` stage (first only) has the challenger score every request and batch record beside the champion,
    logged, never answered: the metric is judged on the same records (paired). A number is a live share: the
    challenger answers that % of entities (by a stable hash of the entity id). The metric is judged once both arms
    have ``min_labelled_per_arm`` label-joined predictions and the evidence could detect a drop of
    ``max_metric_drop`` at ``confidence`` (its minimum detectable effect, in the ledger): the stage passes when the
    interval of the challenger's advantage (challenger - champion for a score, champion - challenger for an error)
    lies above ``-max_metric_drop`` and ``min_bake_minutes`` of data have passed. After a shadow stage, live stages
    check errors on ``min_live_records`` real answers per arm (latency once each arm served
    ``min_requests_for_latency`` requests). Any stage fails (rollback) when the
    interval lies wholly below ``-max_metric_drop``, the error rate is worse, or p95 latency is both
    ``max_p95_latency_ratio`` times and ``min_p95_latency_increase_ms`` above the champion's (a ratio alone is
    noise on a busy host). With ``count_gate_evidence`` (default), the gate's paired comparison (the challenger as
    evaluated, against the champion, on holdout rows the champion was not fitted on) settles the shadow stage when
    it passes the same rule and the model that serves is the one compared (``split.final_fit: train``; a model
    refitted on its holdout always goes through shadow): the canary then starts at the first live stage. A stage
    waits otherwise, until ``deadline_hours`` after the start (in the data's time): then it rolls back,
    inconclusive. Passing the last stage promotes, after a person's approval where ``approval.required``.
    """

    stages: tuple[Stage, ...] = Field(
        min_length=1,
        validation_alias=AliasChoices("stages", "steps"),
        description="'shadow' (first only) and/or the challenger's live traffic share per stage, in %",
    )
    min_labelled_per_arm: int = Field(ge=10)
    min_bake_minutes: float = Field(ge=0)
    deadline_hours: float = Field(gt=0)
    max_metric_drop: float = Field(ge=0, description="in the primary metric's units (gates.primary_metric)")
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    bootstrap_resamples: int = Field(default=1000, ge=100)
    max_error_rate_increase: float = Field(default=0.01, ge=0)
    max_p95_latency_ratio: float = Field(default=2.0, ge=1)
    min_p95_latency_increase_ms: float = Field(default=100.0, ge=0, description="and slower by at least this")
    min_requests_for_latency: int = Field(default=200, ge=1, description="requests per arm before latency counts")
    count_gate_evidence: bool = Field(
        default=True,
        description="a shadow stage is settled by the gate's paired holdout comparison when that passes its rule "
        "and the gate compared the model that will serve (split.final_fit: train)",
    )
    min_live_records: int = Field(
        default=200, ge=1, description="after a shadow stage: records each arm answers before a live stage passes"
    )

    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)

    @model_validator(mode="after")
    def _shadow_then_increasing_shares_below_100(self) -> CanarySpec:
        shares = list(self.stages[1:] if self.has_shadow else self.stages)
        if SHADOW in shares:
            raise ValueError("canary stages: 'shadow' can only be the first stage")
        if shares != sorted(set(shares)) or not all(0 < float(s) < 100 for s in shares):
            raise ValueError(
                "canary stages: after an optional 'shadow', increasing shares between 0 and 100 "
                "(promotion is the 100 %), e.g. [shadow, 50] or [10, 50]"
            )
        return self

    @property
    def has_shadow(self) -> bool:
        return self.stages[0] == SHADOW

    def is_shadow(self, stage: int) -> bool:
        return self.stages[stage] == SHADOW

    def share(self, stage: int) -> float:
        """The challenger's share of live answers at ``stage``, 0..1 (0 in shadow)."""
        value = self.stages[stage]
        return 0.0 if value == SHADOW else float(value) / 100

    def stage_label(self, stage: int) -> str:
        value = self.stages[stage]
        return SHADOW if value == SHADOW else f"{float(value):g} %"
