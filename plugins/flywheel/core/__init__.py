"""What every stage shares and nothing else: task types and metrics, the prediction-log schema, severities, the
canary's state record and the clock. Modules here import nothing from the rest of Flywheel."""
