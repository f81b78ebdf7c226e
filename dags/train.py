"""Airflow DAGs `train__<model>`, one per models/<model>.yaml.

Wiring only: see flywheel.orchestration.train.
"""

from flywheel.orchestration.train import build_train_dag
from flywheel.settings import get_settings
from flywheel.specs import load_specs

for _spec in load_specs(get_settings().models_dir):
    globals()[f"train__{_spec.name}"] = build_train_dag(_spec)
