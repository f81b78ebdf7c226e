"""Airflow DAG `ingest`: landing -> raw. Wiring only: the logic is in flywheel.orchestration.ingest."""

from flywheel.orchestration.ingest import build_ingest_dag

dag = build_ingest_dag()
