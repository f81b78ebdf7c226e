"""The library's shape, checked: layers import only downward, no import cycles, small modules, pure decisions, and
the product never reaches into the demo's simulator. docs/architecture.md draws the same layers.

Every import counts, including those inside functions (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
LIBRARY = PROJECT / "plugins"
REPLAY = PROJECT / "replay"
MAX_LINES = 300

# Lower numbers sit lower; a module may import its own layer and those below. The first matching prefix wins.
LAYERS: list[tuple[str, int]] = [
    ("flywheel.core", 0),  # task types and metrics, prediction-log schema, severities, packet, clock
    ("flywheel.settings", 1),
    ("flywheel.specs", 1),
    ("flywheel.workspace", 3),  # built from the stages' openers (warehouse, registry client, stores)
    ("flywheel.decisions", 4),  # pure judgements
    ("flywheel.jobs", 5),  # gather inputs, call a decision, write outputs
    ("flywheel.orchestration", 6),
    ("flywheel.cli", 6),
    ("flywheel.status", 6),
    ("flywheel.report", 6),
    ("flywheel.report_history", 6),
    ("flywheel.views", 6),  # the model view for people (Airflow's UI), like the CLI's reports
    ("flywheel", 2),  # the stages: storage, data, ingest, training, registry, serving, monitoring
    ("flywheel_replay", 7),  # the simulator, on top of everything; the product never imports it
    ("flywheel_ui", 7),  # plugins/flywheel_ui.py, what Airflow's plugin loader imports
]
# What a decision may use inside Flywheel: shared types, the specs, other decisions and the drift statistics
# (numpy/scipy on frames in memory). The subprocess test in tests/unit/decisions checks no I/O library loads.
DECISION_MAY_IMPORT = ("flywheel.core", "flywheel.specs", "flywheel.decisions", "flywheel.monitoring.drift")


def _modules() -> dict[str, Path]:
    found = {}
    for root in (LIBRARY, REPLAY):
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if name.startswith("flywheel"):
                found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The Flywheel modules ``name`` imports (``from pkg import module`` resolves to the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    return next(level for prefix, level in LAYERS if module == prefix or module.startswith(prefix + "."))


def test_the_graph_sees_the_imports_it_checks():
    """A guard for the checks below: an analysis that found no edges would pass them all."""
    assert {"flywheel.decisions.monitor", "flywheel.workspace", "flywheel.monitoring.alerts"} <= GRAPH[
        "flywheel.jobs.monitor"
    ]
    assert "flywheel.core.tasks" in GRAPH["flywheel.decisions.canary"]
    assert "flywheel_replay.summary" in GRAPH["flywheel_replay.loop"]


def test_layers_import_only_downward():
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_decisions_use_only_core_specs_and_drift_statistics():
    reaching = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("flywheel.decisions")
        for target in targets
        if not target.startswith(DECISION_MAY_IMPORT)
    ]
    assert not reaching, "\n".join(reaching)


def test_there_is_no_import_cycle():
    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            module, path = stack.pop()
            for target in sorted(GRAPH[module]):
                if target == start:
                    return [*path, start]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
        return None

    cycles = [" -> ".join(c) for m in sorted(GRAPH) if (c := cycle_from(m))]
    assert not cycles, cycles[0]


def test_no_library_module_is_over_300_lines():
    long = {
        str(path.relative_to(PROJECT)): lines
        for module, path in MODULES.items()
        if module.split(".")[0] == "flywheel" and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these by concern: {long}"


def test_the_production_image_leaves_the_simulator_out():
    """The image copies the project but not ``replay/`` and installs only the library (Dockerfile)."""
    ignored = (PROJECT / ".dockerignore").read_text().split()
    assert "replay" in ignored or "replay/" in ignored
    install_lines = [line for line in (PROJECT / "Dockerfile").read_text().splitlines() if "pip install" in line]
    assert install_lines and not any("replay" in line for line in install_lines)
    assert not [m for m, targets in GRAPH.items() if m.startswith("flywheel.") for t in targets if "replay" in t]
