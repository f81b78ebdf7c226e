"""What a person's answer to a promotion request decides, and what the request shows."""

from __future__ import annotations

import pytest

from flywheel.decisions.approval import (
    APPROVE,
    REJECT,
    ApprovalAnswer,
    default_options,
    outcome,
    request,
)
from flywheel.specs import ApprovalPolicy

POLICY = ApprovalPolicy(required=True, timeout_hours=24, on_timeout="reject")


def test_approve_promotes_and_reject_rolls_back_with_the_persons_name_and_reason():
    approved = outcome(POLICY, ApprovalAnswer((APPROVE,), "looked at the segments", "ana"))
    assert (approved.promote, approved.actor) == (True, "person:ana")
    assert approved.reason == "approved by a person: looked at the segments"
    rejected = outcome(POLICY, ApprovalAnswer((REJECT,), "  ", "bo"))
    assert (rejected.promote, rejected.actor, rejected.reason) == (
        False,
        "person:bo",
        "rejected by a person: no reason given",
    )


@pytest.mark.parametrize(("on_timeout", "promote"), [("reject", False), ("approve", True)])
def test_nobody_answering_takes_the_policy_and_says_so(on_timeout, promote):
    policy = ApprovalPolicy(required=True, timeout_hours=6, on_timeout=on_timeout)
    chosen = tuple(default_options(policy))
    decided = outcome(policy, ApprovalAnswer(chosen, "", None))
    assert decided.promote is promote
    assert decided.actor == "airflow:approval-timeout"
    assert decided.reason == f"no answer within 6 h: {'approved' if promote else 'rejected'} by policy"


def test_the_request_shows_the_evidence_the_links_and_what_each_answer_does():
    asked = request(
        "bike_demand",
        "3",
        "2",
        "challenger MAE 41.2 vs 43.0",
        {"interval": "0.5 .. 3.1", "challenger v3 MAE": 41.2345678, "nested": {"not": "shown"}},
        POLICY,
        links={"model card": "http://mlflow/#/models/bike_demand/versions/3"},
        checklist=[("rollback plan", "passed", "@champion v2 keeps serving")],
    )
    assert asked.subject == "Promote bike_demand v3 to @champion?"
    assert "against champion v2" in asked.body and "challenger MAE 41.2 vs 43.0" in asked.body
    assert "| challenger v3 MAE | 41.23 |" in asked.body and "nested" not in asked.body
    assert "- [model card](http://mlflow/#/models/bike_demand/versions/3)" in asked.body
    assert "| rollback plan | passed | @champion v2 keeps serving |" in asked.body
    assert "Without an answer in 24 h: rejected." in asked.body
