"""Model specs and monitoring policies loaded one file at a time, so that one broken file breaks only its model.

A file that does not validate is kept aside with its problems (file, field, rule and what to do, the same wording
as `flywheel check`); every other model loads. The DAG files turn a broken model into a placeholder DAG that
Airflow reports as an import error naming the file and field (flywheel.orchestration.model_dags), the CLI and the demo
name it and go on with the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.decisions.config_check import Problem, validation_problems
from flywheel.specs import ModelSpec, MonitorSpec, load_monitor_spec, load_spec


def load_checked(path: Path, relative: str, loader: Any) -> tuple[Any, list[Problem]]:
    """``loader(path)``, or None and the problems that stop it (a validation error per field, bad YAML, a rule)."""
    import yaml
    from pydantic import ValidationError

    try:
        return loader(path), []
    except ValidationError as exc:
        return None, validation_problems(relative, [dict(e) for e in exc.errors()])
    except yaml.YAMLError as exc:
        return None, [Problem(relative, "", f"is not valid YAML ({exc})", "fix the indentation or quoting")]
    except ValueError as exc:
        return None, [Problem(relative, "", str(exc).removeprefix(f"{path.name}: "), "see docs/adding-a-model.md")]


@dataclass(frozen=True)
class SpecFiles:
    specs: list[ModelSpec]
    monitored: list[tuple[ModelSpec, MonitorSpec]]
    broken_models: dict[str, list[Problem]] = field(default_factory=dict)  # model -> its spec's problems
    broken_monitors: dict[str, list[Problem]] = field(default_factory=dict)  # model -> its monitoring file's

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]


def describe(problems: list[Problem]) -> str:
    return "; ".join(p.describe() for p in problems)


def load_spec_files(models_dir: Path, monitoring_dir: Path) -> SpecFiles:
    """Every ``models/*.yaml`` and ``monitoring/*.yaml``, each on its own: what loads, and what does not with why."""
    specs: dict[str, ModelSpec] = {}
    broken_models: dict[str, list[Problem]] = {}
    for path in sorted(models_dir.glob("*.yaml")):
        spec, problems = load_checked(path, f"models/{path.name}", load_spec)
        if spec is None:
            broken_models[path.stem] = problems
        else:
            specs[spec.name] = spec
    monitored, broken_monitors = [], {}
    for path in sorted(monitoring_dir.glob("*.yaml")):
        relative = f"monitoring/{path.name}"
        if path.stem in broken_models:
            continue  # its model is broken: reported there
        if path.stem not in specs:
            broken_monitors[path.stem] = [
                Problem(relative, "", f"there is no models/{path.name}", "name the file after its model")
            ]
            continue
        monitor, problems = load_checked(path, relative, lambda p: load_monitor_spec(p, specs[p.stem]))
        if monitor is None:
            broken_monitors[path.stem] = problems
        else:
            monitored.append((specs[path.stem], monitor))
    return SpecFiles(list(specs.values()), monitored, broken_models, broken_monitors)
