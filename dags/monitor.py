"""Airflow DAGs `monitor__<model>`, one per monitoring/<model>.yaml (whose model is in models/).

Wiring only: see flywheel.orchestration.monitor.
"""

from flywheel.orchestration.monitor import build_monitor_dag
from flywheel.settings import get_settings
from flywheel.specs import load_monitored

for _spec, _monitor in load_monitored(get_settings().models_dir, get_settings().monitoring_dir):
    globals()[f"monitor__{_spec.name}"] = build_monitor_dag(_spec, _monitor)
