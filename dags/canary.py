"""Airflow DAGs `score__<model>` and `canary__<model>`, one each per models/<model>.yaml; a spec that does not
validate breaks only its own DAGs (an import error naming the file and field).

Wiring only: see flywheel.orchestration.canary and flywheel.orchestration.model_dags.
"""

from flywheel.orchestration.model_dags import canary_dags
from flywheel.settings import get_settings

globals().update(canary_dags(get_settings()))
