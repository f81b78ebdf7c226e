"""Airflow loads plugins from this folder: Flywheel's model view (``flywheel.orchestration.ui_plugin``). The
library itself (``flywheel/``) is not scanned: plugins/.airflowignore."""

from flywheel.orchestration.ui_plugin import FlywheelPlugin

__all__ = ["FlywheelPlugin"]
