"""Airflow DAGs `score__<model>` and `canary__<model>`, one each per models/<model>.yaml.

Wiring only: see flywheel.orchestration.canary.
"""

from flywheel.orchestration.canary import build_canary_dag, build_score_dag
from flywheel.settings import get_settings
from flywheel.specs import load_specs

for _spec in load_specs(get_settings().models_dir):
    globals()[f"score__{_spec.name}"] = build_score_dag(_spec)
    globals()[f"canary__{_spec.name}"] = build_canary_dag(_spec)
