"""The workspace: built once from the settings, it owns the warehouse, the registry, the stores and the specs.

A job takes a workspace instead of settings and opens nothing itself, so one DAG task (or one CLI command) uses one
registry client and one warehouse handle, and a test hands a job exactly the workspace it built.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from flywheel.data.warehouse import Warehouse, open_warehouse
from flywheel.registry.client import Registry
from flywheel.settings import Settings, get_settings
from flywheel.specs import ModelSpec, MonitorSpec, load_monitor_spec, load_spec, load_specs
from flywheel.storage import Store, open_store

StoreName = Literal["landing", "archive", "quarantine", "reports", "predictions"]


class Workspace:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stores: dict[str, Store] = {}
        self._specs: dict[str, ModelSpec] = {}

    @classmethod
    def from_environment(cls) -> Workspace:
        """The workspace of this process's ``FLYWHEEL_*`` environment (what a DAG task or the CLI uses)."""
        return cls(get_settings())

    @cached_property
    def warehouse(self) -> Warehouse:
        return open_warehouse(self.settings)

    @cached_property
    def registry(self) -> Registry:
        from flywheel.registry import tracking  # mlflow: imported when a job first needs the registry

        return Registry(tracking.client(self.settings))

    def store(self, name: StoreName) -> Store:
        if name not in self._stores:
            uri: str = getattr(self.settings, f"{name}_uri")
            self._stores[name] = open_store(uri, self.settings.s3_endpoint_url)
        return self._stores[name]

    def spec(self, name: str) -> ModelSpec:
        """``models/<name>.yaml``, validated (loaded once per workspace)."""
        if name not in self._specs:
            self._specs[name] = load_spec(self.settings.models_dir / f"{name}.yaml")
        return self._specs[name]

    def monitor_spec(self, name: str) -> MonitorSpec:
        """``monitoring/<name>.yaml``, validated against its model's spec."""
        return load_monitor_spec(self.settings.monitoring_dir / f"{name}.yaml", self.spec(name))

    def specs(self) -> list[ModelSpec]:
        return load_specs(self.settings.models_dir)
