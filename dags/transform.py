"""Airflow DAG `transform`: raw -> dbt (staging, marts) -> GX validation.

Wiring only: see flywheel.orchestration.transform.
"""

from flywheel.orchestration.transform import build_transform_dag

dag = build_transform_dag()
