"""The canary DAG of a policy that requires approval: a human-in-the-loop task between the judgement and the act,
with the policy's timeout and default; a policy without it keeps the two-task DAG."""

from __future__ import annotations

from datetime import timedelta

from flywheel.orchestration.canary import build_canary_dag
from flywheel.specs import load_spec


def _spec(project_dir, **approval):  # type: ignore[no-untyped-def]
    spec = load_spec(project_dir / "models" / "bike_demand.yaml")
    canary = spec.canary.model_copy(update={"approval": spec.canary.approval.model_copy(update=approval)})
    return spec.model_copy(update={"canary": canary})


def test_required_approval_waits_in_a_hitl_task_with_the_policys_timeout_and_default(project_dir):
    dag = build_canary_dag(_spec(project_dir, required=True, timeout_hours=6, on_timeout="approve"))
    assert set(dag.task_ids) == {
        "collect_predictions",
        "judge_canary",
        "approval_needed",
        "approve_promotion",
        "settle_approval",
    }
    ask = dag.get_task("approve_promotion")
    assert type(ask).__name__ == "HITLOperator"
    assert (ask.options, ask.defaults, ask.response_timeout) == (["Approve", "Reject"], ["Approve"], timedelta(hours=6))
    assert "reason" in ask.params
    assert dag.get_task("approval_needed").downstream_task_ids == {"approve_promotion"}
    assert dag.get_task("settle_approval").upstream_task_ids == {"judge_canary", "approve_promotion"}


def test_without_approval_the_canary_acts_on_its_own(project_dir):
    assert set(build_canary_dag(_spec(project_dir)).task_ids) == {"collect_predictions", "judge_canary"}
