"""Every decision a replay made, month by month, as plain text: what to diff when a change must not change them.

Per model: each live monitor window (champion, severity, drifted features, quality drop, the policy's action and
trigger) and the ledger's events in order (event, version, reason). Times of day and run ids are left out: two runs
of the same code on the same data print the same text. It reads the warehouse of a finished replay with DuckDB
alone, so it also reads homes written by older code.

    usage: .venv/bin/python benchmarks/decisions.py HOME [> decisions.txt]
    e.g.   diff <(python benchmarks/decisions.py before-home) <(python benchmarks/decisions.py after-home)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import duckdb

# The parts of a reason that differ between two runs of the same decisions: canary timestamps, run ids, p95
# latencies (wall-clock timing of the replayed requests) and the elapsed hours of a canary step.
_VOLATILE = [
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00)?"), "<time>"),
    (re.compile(r"p95 latency [^;)]*"), "p95 latency <ms>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<run id>"),
]


def _stable(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def decisions(home: Path) -> str:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    lines: list[str] = []
    models = [r[0] for r in con.execute("select distinct model from ops.monitor_decisions order by 1").fetchall()]
    for model in models:
        lines.append(f"## {model}: monitor windows (live)")
        for end, champion, severity, drifted, drop, action, trigger, reason in con.execute(
            "select window_end, champion, severity, drifted, quality_drop, action, trigger_kind, reason "
            "from ops.monitor_decisions where model = ? and mode = 'live' order by window_end",
            [model],
        ).fetchall():
            quality = "-" if drop is None else f"{drop:+.4f}"
            lines.append(
                f"{end:%Y-%m} v{champion} {severity} [{drifted or ''}] drop {quality} -> {action}"
                f" ({trigger or '-'}): {_stable(reason or '')}"
            )
        lines.append(f"## {model}: ledger")
        for event, version, reason in con.execute(
            "select event, version, reason from ops.model_ledger where model = ? order by recorded_at, entry_id",
            [model],
        ).fetchall():
            lines.append(f"{event} v{version}: {_stable(reason or '')}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(decisions(Path(sys.argv[1])))
