"""The models a prediction service answers with, kept in step with the registry's aliases.

A ``Routing`` snapshot (champion, challenger, challenger share) is immutable; a background thread builds a new one
when an alias or the canary share moves and swaps one reference. A request reads the reference once, so it is
answered entirely by one snapshot: no request fails or mixes models while aliases move. Models already loaded are
kept, so if the registry is unreachable the service goes on with what it has.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from flywheel.registry import artifacts, canary_state, register, tracking
from flywheel.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    model: Any  # the scikit-learn estimator; flywheel.core.tasks says how it scores


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
            self._cache[version] = LoadedModel(self.name, version, model)
            log.info("%s: loaded v%s", self.name, version)
        return self._cache[version]

    def refresh(self) -> Routing:
        """Read aliases and the canary share from the registry and swap in a new snapshot if they moved."""
        client = tracking.client(self.settings)
        champion_version = register.alias_version(client, self.name, register.CHAMPION)
        challenger_version = register.alias_version(client, self.name, register.CHALLENGER)
        state = canary_state.read(client, self.name, challenger_version) if challenger_version else None
        share = state.share if state else 0.0
        champion = self._load(client, champion_version) if champion_version else None
        challenger = self._load(client, challenger_version) if challenger_version and share > 0 else None
        shadow = self._load(client, challenger_version) if challenger_version and state and state.shadow else None
        routing = Routing(champion, challenger, share if challenger else 0.0, shadow if champion else None)
        if routing != self._routing:
            log.info(
                "%s: routing champion v%s, challenger v%s at %.0f %%%s",
                self.name,
                champion_version,
                challenger_version,
                100 * routing.challenger_share,
                " (shadow)" if routing.shadow else "",
            )
            self._routing = routing
        self._cache = {v: m for v, m in self._cache.items() if v in (champion_version, challenger_version)}
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
