"""Flywheel's model view for people, served inside Airflow's UI by the plugin in ``flywheel.orchestration.ui_plugin``
(one FastAPI app on Airflow's api-server, no second web server): per model its champion and challenger, the canary's
stage and evidence, the last monitor windows with their Evidently reports, live quality and the deployment history.
Nothing here imports Airflow."""
