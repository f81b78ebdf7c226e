"""The models a prediction service answers with, kept in step with the registry's aliases.

A ``Routing`` snapshot (champion, challenger, challenger share) is immutable; a background thread builds a new one
when an alias or the canary share moves and swaps one reference. A request reads the reference once, so it is
answered entirely by one snapshot: no request fails or mixes models while aliases move. Models already loaded are
kept, so if the registry is unreachable the service goes on with what it has.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from flywheel.core.multiclass import score_rows
from flywheel.core.tasks import Task
from flywheel.registry import artifacts, canary_state, register, tracking
from flywheel.serving.compiled import CompiledModel, compile_model
from flywheel.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    model: Any  # the scikit-learn estimator; flywheel.core.tasks says how it scores
    # The same model compiled at load (serving.compiled), or None: then records go through a DataFrame.
    compiled: CompiledModel | None = field(default=None, compare=False)

    def score(self, task: Task, records: list[dict[str, Any]], features: list[str]) -> tuple[list[Any], list[Any]]:
        """Each record's score (a float, or a multiclass model's list of class probabilities) and decision (a
        regressor's is None)."""
        if self.compiled is not None:
            scores = self.compiled.score(records)
            return [float(s) for s in scores], self.compiled.decisions(scores)
        import pandas as pd

        frame = pd.DataFrame(records)[features]
        scores = task.score(self.model, frame)
        return score_rows(scores), task.decisions(self.model, scores, frame)


@dataclass(frozen=True)
class Routing:
    champion: LoadedModel | None
    challenger: LoadedModel | None
    challenger_share: float  # 0..1
    shadow: LoadedModel | None = None  # the challenger in a shadow stage: scores every record, answers none

    def model_for(self, arm: str) -> tuple[LoadedModel, str]:
        if arm == "challenger" and self.challenger is not None:
            return self.challenger, "challenger"
        if self.champion is None:
            raise LookupError("no @champion to answer with")
        return self.champion, "champion"

    def versions(self) -> dict[str, object]:
        """What ``GET /ready`` reports of this snapshot: the same fields as ``RoutingTarget.versions``."""
        return RoutingTarget(
            _version(self.champion), None, _version(self.challenger), self.challenger_share, _version(self.shadow)
        ).versions()


def _version(loaded: LoadedModel | None) -> str | None:
    return loaded.version if loaded else None


@dataclass(frozen=True)
class RoutingTarget:
    """The versions a service should answer with, as the registry says now (what ``/ready`` reports once the
    service has caught up: the demo and the tests wait for that instead of sleeping)."""

    champion: str | None
    challenger_alias: str | None  # @challenger, whether or not it answers
    challenger: str | None  # answers ``challenger_share`` of the entities
    challenger_share: float
    shadow: str | None  # scores every record beside the champion, answers none

    def versions(self) -> dict[str, object]:
        """The fields of ``GET /ready`` this target fixes (``Routing.versions`` once the service has it)."""
        return {
            "champion": self.champion,
            "challenger": self.challenger,
            "challenger_share": self.challenger_share,
            "shadow": self.shadow,
        }


def routing_target(client: Any, name: str) -> RoutingTarget:
    champion = register.alias_version(client, name, register.CHAMPION)
    challenger = register.alias_version(client, name, register.CHALLENGER)
    state = canary_state.read(client, name, challenger) if challenger else None
    share = state.share if state and challenger else 0.0
    return RoutingTarget(
        champion=champion,
        challenger_alias=challenger,
        challenger=challenger if share > 0 else None,
        challenger_share=share,
        shadow=challenger if champion and state and state.shadow else None,
    )


class ModelPool:
    def __init__(self, name: str, settings: Settings):
        self.name = name
        self.settings = settings
        self._cache: dict[str, LoadedModel] = {}
        self._routing = Routing(None, None, 0.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_refresh_error: str | None = None

    @property
    def routing(self) -> Routing:
        return self._routing

    def _load(self, client: Any, version: str) -> LoadedModel:
        if version not in self._cache:
            # Refuses files that are not the ones fingerprinted at registration (the error names the file); the
            # refresh then fails and the models already loaded go on answering.
            model = artifacts.load_verified_model(client, self.name, version)
            compiled = compile_model(model) if self.settings.serve_compiled else None
            self._cache[version] = LoadedModel(self.name, version, model, compiled)
            log.info("%s: loaded v%s (%s)", self.name, version, "compiled" if compiled else "through a DataFrame")
        return self._cache[version]

    def refresh(self) -> Routing:
        """Read aliases and the canary share from the registry and swap in a new snapshot if they moved."""
        client = tracking.client(self.settings)
        target = routing_target(client, self.name)
        champion = self._load(client, target.champion) if target.champion else None
        challenger = self._load(client, target.challenger) if target.challenger else None
        shadow = self._load(client, target.shadow) if target.shadow else None
        routing = Routing(champion, challenger, target.challenger_share, shadow)
        if routing != self._routing:
            log.info(
                "%s: routing champion v%s, challenger v%s at %.0f %%%s",
                self.name,
                target.champion,
                target.challenger_alias,
                100 * routing.challenger_share,
                " (shadow)" if routing.shadow else "",
            )
            self._routing = routing
        self._cache = {v: m for v, m in self._cache.items() if v in (target.champion, target.challenger_alias)}
        self.last_refresh_error = None
        return routing

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.serve_refresh_seconds):
            try:
                self.refresh()
            except Exception as exc:
                self.last_refresh_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: registry refresh failed, serving the models loaded: %s", self.name, exc)

    def start(self) -> None:
        try:
            self.refresh()
        except Exception as exc:
            self.last_refresh_error = f"{type(exc).__name__}: {exc}"
            log.warning("%s: first registry read failed: %s", self.name, exc)
        self._thread = threading.Thread(target=self._watch, name=f"registry-watch-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
