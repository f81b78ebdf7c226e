"""The canary part of `flywheel demo`: after the first champion, live traffic decides.

1. Two more months land; a challenger trained on them passes the gate and enters the canary.
2. Each following month: its bookings are replayed as requests to `flywheel serve` (its own process), the month
   is ingested and transformed, and `canary__<model>` runs with the month's end as the date labels are known by.
   The challenger advances 10 % -> 50 % -> promotion on the evidence.
3. A challenger trained on shuffled labels, forced past the gate and marked as such, enters the canary and is
   rolled back at 10 %.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from flywheel.settings import Settings

CHALLENGER_MONTHS = ("2016-07", "2016-08")
TRAFFIC_MONTHS = ("2016-09", "2016-10", "2016-11", "2016-12", "2017-01", "2017-02")


def _last_decision(model: str, settings: Settings) -> dict[str, Any]:
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import ledger

    return ledger.history(open_warehouse(settings), model, limit=1)[0]


def canary_demo(
    model: str, settings: Settings, console: Console, run_dags: Callable[..., None], land: Callable[[str, str], None]
) -> None:
    from flywheel.data.warehouse import open_warehouse
    from flywheel.jobs.demo import register_shuffled_label_challenger
    from flywheel.serving.process import flywheel_serve
    from flywheel.serving.replay import month_end, month_records, post_records
    from flywheel.specs import load_spec

    spec = load_spec(settings.models_dir / f"{model}.yaml")
    console.rule(f"{model}: a challenger trained on {CHALLENGER_MONTHS[0]}..{CHALLENGER_MONTHS[-1]} as well")
    land(CHALLENGER_MONTHS[0], CHALLENGER_MONTHS[-1])
    run_dags(["ingest", "transform", f"train__{model}"])
    env = {"FLYWHEEL_SERVE_REFRESH_SECONDS": "0.5", "FLYWHEEL_SERVE_LOG_FLUSH_SECONDS": "0.2"}
    with flywheel_serve(model, settings.home / "logs" / "serve.log", env) as url:
        months = iter(TRAFFIC_MONTHS)
        for label, prepare in (
            ("better challenger", None),
            ("shuffled-label challenger (forced past the gate)", register_shuffled_label_challenger),
        ):
            if prepare is not None:
                console.rule(f"{model}: {label}")
                console.print(f"registered v{prepare(model, settings)} (demo only: shuffled labels, marked)")
            run_dags([f"canary__{model}"], {"labels_until": month_end(CHALLENGER_MONTHS[-1])})  # starts it
            while (month := next(months, None)) is not None:
                land(month, month)
                run_dags(["ingest", "transform"])
                time.sleep(1.0)  # the service picks up the canary's share
                answered = post_records(url, month_records(spec, open_warehouse(settings), month))
                time.sleep(1.0)  # and writes its prediction log
                run_dags([f"canary__{model}"], {"labels_until": month_end(month)})
                decision = _last_decision(model, settings)
                console.print(
                    f"[bold]{month}[/bold]: traffic {answered}; labels up to {month_end(month)[:10]}; "
                    f"decision: [bold]{decision['event']}[/bold] v{decision['version']}: "
                    f"{decision['reason']}"
                )
                if decision["event"] in ("promoted", "rolled_back"):
                    break
