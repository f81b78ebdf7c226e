"""When drift or a quality drop may retrain a model, and when it must not: a pure function of the history.

Order of the checks, and why:
1. The same drift right after a retrain -> page a person. The retrained champion's reference already contains the
   drifted data, so retraining again would not absorb it (a broken upstream, a new business reality): a loop.
2. No trigger -> nothing to do (and nothing written). Triggers: ``critical_windows_in_a_row`` critical windows
   judged against the current champion, or (``on_quality_drop``) the live metric below the champion's holdout by
   more than the quality limit.
3. Guards, each a written suppression: a running canary (its outcome comes first), the cooldown since the last
   request, the budget of requests per period, the minimum of new labelled rows since the champion's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from flywheel.specs import RetrainPolicySpec

Action = Literal["none", "retrain", "suppressed", "page"]


@dataclass(frozen=True)
class WindowRecord:
    """The verdict of one monitored window (live history, oldest first)."""

    window_end: datetime
    champion: str
    severity: str
    drifted: tuple[str, ...] = ()
    quality_drop: float | None = None  # champion's holdout metric minus the live metric; None without labels


@dataclass(frozen=True)
class RetrainRequest:
    """A past request, from the ledger."""

    window_end: datetime
    trigger: str  # drift | quality | no_champion
    champion: str
    drifted: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetrainDecision:
    action: Action
    reason: str
    trigger: str | None = None


def _streak(windows: list[WindowRecord]) -> int:
    """Critical windows in a row, ending now, judged against the current champion."""
    champion, count = windows[-1].champion, 0
    for window in reversed(windows):
        if window.severity != "critical" or window.champion != champion:
            break
        count += 1
    return count


def _trigger(policy: RetrainPolicySpec, quality_max_drop: float, windows: list[WindowRecord]) -> tuple[str, str] | None:
    now = windows[-1]
    if policy.on_quality_drop and now.quality_drop is not None and now.quality_drop > quality_max_drop:
        return "quality", f"live metric {now.quality_drop:.3f} below the champion's holdout (limit {quality_max_drop})"
    streak = _streak(windows)
    if streak >= policy.critical_windows_in_a_row:
        features = ", ".join(now.drifted[:5]) or "prediction"
        return "drift", f"critical drift in {streak} windows in a row against v{now.champion} ({features})"
    return None


def _why_no_trigger(policy: RetrainPolicySpec, windows: list[WindowRecord]) -> str:
    now = windows[-1]
    if now.severity == "critical":
        return (
            f"critical in {_streak(windows)} window(s) in a row against v{now.champion}; a retrain needs "
            f"{policy.critical_windows_in_a_row}"
        )
    reasons = {"none": "no drift", "warning": "a warning does not retrain", "insufficient_data": "no verdict"}
    return reasons.get(now.severity, now.severity)


def _persists_after_retrain(windows: list[WindowRecord], requests: list[RetrainRequest]) -> RetrainRequest | None:
    """The last drift retrain produced today's champion, and its first window shows the same drift."""
    now = windows[-1]
    if not requests or now.severity != "critical":
        return None
    last = requests[-1]
    if last.trigger != "drift" or now.champion == last.champion:
        return None
    first_of_champion = sum(w.champion == now.champion and w.window_end > last.window_end for w in windows) == 1
    shared = set(last.drifted) & set(now.drifted)
    same = bool(shared) and len(shared) >= len(set(last.drifted)) / 2
    return last if first_of_champion and same else None


def decide(
    policy: RetrainPolicySpec,
    quality_max_drop: float,
    windows: list[WindowRecord],
    requests: list[RetrainRequest],
    canary_running: bool,
    new_labelled_rows: int,
) -> RetrainDecision:
    """The action for the newest window (``windows[-1]``) given the past requests (oldest first)."""
    now = windows[-1]
    persisted = _persists_after_retrain(windows, requests)
    if persisted is not None:
        shared = ", ".join(sorted(set(persisted.drifted) & set(now.drifted)))
        return RetrainDecision(
            "page",
            f"the drift that retrained v{persisted.champion} persists on v{now.champion}, the retrained champion "
            f"({shared}): retraining again would not absorb it; a person should look (runbook: persisting drift)",
            "drift",
        )
    trigger = _trigger(policy, quality_max_drop, windows)
    if trigger is None:
        return RetrainDecision("none", _why_no_trigger(policy, windows))
    kind, why = trigger
    suppressed = _guard(policy, now, requests, canary_running, new_labelled_rows)
    if suppressed:
        return RetrainDecision("suppressed", f"{why}; suppressed: {suppressed}", kind)
    return RetrainDecision("retrain", why, kind)


def _guard(
    policy: RetrainPolicySpec,
    now: WindowRecord,
    requests: list[RetrainRequest],
    canary_running: bool,
    new_labelled_rows: int,
) -> str | None:
    if canary_running:
        return "a canary is running; its outcome comes first"
    if requests:
        last = requests[-1].window_end
        until = last + timedelta(days=policy.cooldown_days)
        if now.window_end < until:
            return (
                f"cooldown: last retrain requested for the window ending {last:%Y-%m-%d}, next after {until:%Y-%m-%d}"
            )
    since = now.window_end - timedelta(days=policy.budget_period_days)
    used = sum(r.window_end > since for r in requests)
    if used >= policy.max_retrains:
        return f"budget: {used} retrains in the last {policy.budget_period_days:g} days (max {policy.max_retrains})"
    if new_labelled_rows < policy.min_new_labelled_rows:
        return (
            f"{new_labelled_rows:,} new labelled rows since the champion's data (need {policy.min_new_labelled_rows:,})"
        )
    return None
