"""``flywheel history <model>``: the deployment history for people (a table) and for tools (``--json``)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from flywheel.registry.history import deployment_history
from flywheel.settings import Settings


def _day(moment: object) -> str:
    return "now" if moment is None else str(moment)[:16].replace("T", " ")


def print_history(console: Console, model: str, settings: Settings, as_json: bool = False) -> None:
    from flywheel.data.warehouse import open_warehouse

    periods, services = deployment_history(open_warehouse(settings), model)
    if as_json:
        document = {
            "model": model,
            "versions": [s.to_dict() for s in services],
            "periods": [p.to_dict() for p in periods],
        }
        console.print_json(json.dumps(document))
        return
    if not periods:
        console.print(f"{model}: no version has served yet (the ledger has no promotion)")
        return
    served = Table(
        "version",
        "first answered",
        "last answered",
        "as @champion",
        "answering a share",
        "in shadow",
        "outcome",
        title=f"{model}: time in service per version",
    )
    for s in services:
        served.add_row(
            f"v{s.version}",
            _day(s.first_answered) if s.first_answered else "-",
            _day(s.last_answered) if s.first_answered else "-",
            f"{s.champion_days:.1f} d",
            f"{s.challenger_days:.1f} d",
            f"{s.shadow_days:.1f} d",
            s.outcome,
        )
    routing = Table("from", "to", "@champion", "@challenger", "moved by", "why", title=f"{model}: routing history")
    for p in periods:
        challenger = (
            "-"
            if p.challenger is None
            else (f"v{p.challenger} shadow" if p.shadow else f"v{p.challenger} {p.challenger_share:.0%}")
        )
        champion = "-" if p.champion is None else f"v{p.champion} {1 - p.challenger_share:.0%}"
        routing.add_row(_day(p.start), _day(p.end), champion, challenger, p.changed_by, p.why[:120])
    console.print(served, routing)
