"""A person's approval of a promotion the canary earned: what the request shows, and what an answer (or its
absence) decides. Pure: the canary job writes the request and applies the outcome, Airflow's human-in-the-loop
task carries the question and the answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flywheel.specs import ApprovalPolicy

APPROVE = "Approve"
REJECT = "Reject"
OPTIONS = (APPROVE, REJECT)


@dataclass(frozen=True)
class ApprovalRequest:
    """What the person sees: a subject line and a Markdown body with the evidence."""

    subject: str
    body: str


@dataclass(frozen=True)
class ApprovalAnswer:
    """What came back: the chosen option, the reason typed, who answered (None when nobody did: a timeout)."""

    chosen: tuple[str, ...]
    reason: str
    responded_by: str | None


@dataclass(frozen=True)
class ApprovalOutcome:
    promote: bool
    actor: str
    reason: str


def default_options(policy: ApprovalPolicy) -> list[str]:
    """The option taken when nobody answers within the policy's timeout."""
    return [APPROVE if policy.on_timeout == "approve" else REJECT]


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def request(
    model: str,
    version: str,
    champion: str | None,
    canary_reason: str,
    evidence: Mapping[str, Any],
    policy: ApprovalPolicy,
    links: Mapping[str, str] | None = None,
    checklist: Sequence[tuple[str, str, str]] = (),
) -> ApprovalRequest:
    """The request for ``model`` v``version``: the canary's verdict and numbers, the gate's, links (model card,
    reports) and the pre-production checklist (item, status, evidence)."""
    lines = [
        f"**{model} v{version}** passed its canary against champion v{champion} and waits for your approval to "
        "become `@champion`.",
        "",
        f"Canary verdict: {canary_reason}",
        "",
        "| evidence | value |",
        "| --- | --- |",
        *(f"| {key} | {_fmt(value)} |" for key, value in evidence.items() if not isinstance(value, dict | list)),
    ]
    if checklist:
        lines += ["", "| pre-production check | status | evidence |", "| --- | --- | --- |"]
        lines += [f"| {item} | {status} | {why} |" for item, status, why in checklist]
    lines += ["", *(f"- [{label}]({url})" for label, url in (links or {}).items())]
    wait = f"{policy.timeout_hours:g} h"
    lines += [
        "",
        f"**Approve** moves `@champion` to v{version}; **Reject** rolls it back (the champion keeps serving). Say "
        f"why in *reason*: it goes to the ledger. Without an answer in {wait}: "
        f"{'approved' if policy.on_timeout == 'approve' else 'rejected'}.",
    ]
    return ApprovalRequest(f"Promote {model} v{version} to @champion?", "\n".join(lines))


def outcome(policy: ApprovalPolicy, answer: ApprovalAnswer) -> ApprovalOutcome:
    """Promote on Approve, roll back on Reject; nobody answering takes the policy's ``on_timeout`` and says so."""
    promote = APPROVE in answer.chosen
    if answer.responded_by is None:
        verdict = "approved" if promote else "rejected"
        return ApprovalOutcome(
            promote, "airflow:approval-timeout", f"no answer within {policy.timeout_hours:g} h: {verdict} by policy"
        )
    said = answer.reason.strip() or "no reason given"
    return ApprovalOutcome(
        promote, f"person:{answer.responded_by}", f"{'approved' if promote else 'rejected'} by a person: {said}"
    )
