"""Airflow DAGs `train__<model>`, one per models/<model>.yaml; a spec that does not validate breaks only its own
DAG (an import error naming the file and field).

Wiring only: see flywheel.orchestration.train and flywheel.orchestration.model_dags.
"""

from flywheel.orchestration.model_dags import train_dags
from flywheel.settings import get_settings

globals().update(train_dags(get_settings()))
