"""One thread per model call in the prediction service, set by the service, whatever the environment says.

A one-row prediction of a 300-tree histogram gradient boosting model with two OpenMP threads cost 149 ms of CPU on
two busy cores, with one thread 20 ms (7.8x the throughput): the thread team's start-up and synchronisation dwarf
the work of one row. The service answers many small requests at once, so its parallelism is across requests (the
thread pool, worker processes), not inside one. OpenMP reads its thread count when the runtime loads, and a thread
the service starts later does not inherit a limit set on the main thread, so the environment is set before any
numerical library is imported (``flywheel serve`` does it first), and threadpoolctl caps whatever was loaded before.
"""

from __future__ import annotations

import os

VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_model_threads(threads: int) -> None:
    """Every OpenMP/BLAS pool of this process at ``threads``, in threads started from now on too."""
    for variable in VARIABLES:
        os.environ[variable] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # libraries already loaded (none when `flywheel serve` calls this first)


def model_threads() -> dict[str, int]:
    """The thread count of each loaded OpenMP/BLAS library, as the calling thread would use it."""
    from threadpoolctl import threadpool_info

    return {f"{i['user_api']}:{i['internal_api']}": int(i["num_threads"]) for i in threadpool_info()}
