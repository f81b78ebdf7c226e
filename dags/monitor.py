"""Airflow DAGs `monitor__<model>`, one per monitoring/<model>.yaml (whose model is in models/); a policy or spec
that does not validate breaks only its own DAG (an import error naming the file and field).

Wiring only: see flywheel.orchestration.monitor and flywheel.orchestration.model_dags.
"""

from flywheel.orchestration.model_dags import monitor_dags
from flywheel.settings import get_settings

globals().update(monitor_dags(get_settings()))
