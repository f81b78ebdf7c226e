#!/usr/bin/env bash
# Scenario 1 of docs/reliability.md at a larger size than CI's 20 kills: the training task killed at random points
# N times (default 100), every kill checked, every chain of retries ending in exactly one version. Prints where
# the kills landed.   usage: benchmarks/kill_training.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
FLYWHEEL_RELIABILITY_KILLS="${1:-100}" .venv/bin/pytest -q -s -p no:cacheprovider \
  tests/reliability/test_kill_training.py
