"""The service pins its model calls to one thread, whatever the environment says: checked in a fresh process (the
OpenMP runtime reads its limit once, when it loads), from a thread started after the pin, as a request's is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
from flywheel.serving.threads import model_threads, pin_model_threads
if sys.argv[1] == "pin":
    pin_model_threads(1)
import numpy, sklearn.ensemble  # noqa: F401  (loads OpenBLAS and scikit-learn's OpenMP runtime)
from concurrent.futures import ThreadPoolExecutor
print(json.dumps(ThreadPoolExecutor(1).submit(model_threads).result()))
"""


def _threads(mode: str) -> dict[str, int]:
    env = {**os.environ, "OMP_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_pinned_service_uses_one_thread_per_model_call_whatever_the_environment_says():
    unpinned, pinned = _threads("none"), _threads("pin")
    assert any(name.startswith("openmp") for name in pinned), pinned  # scikit-learn's OpenMP runtime was seen
    assert max(unpinned.values()) == 4  # the environment alone would give the model 4 threads
    assert set(pinned.values()) == {1}
