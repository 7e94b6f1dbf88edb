"""Worker processes: each runs on one BLAS thread.

kintwin's linear algebra is small (the whole-body controller's QP matrices are at most a few
hundred wide), and NumPy's OpenBLAS starts one thread per core. With several processes at once
(``kintwin analyze`` of a batch, DAgger's rollout workers) those threads outnumber the cores and
wait on each other: two muscle-driven teachers side by side on the 2-core machine took 13.9 s
each for two rollouts against 2.9 s each with one BLAS thread, the same as one process alone
(``bench/blas_threads_speed.py``). One process alone is unaffected.
"""

from __future__ import annotations

import os

#: the thread-count variables of the BLAS and OpenMP runtimes NumPy and SciPy may load
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """Limit this process to one BLAS thread: the libraries already loaded (``threadpoolctl``) and
    those loaded later (their environment variables). A process pool's initializer."""
    from threadpoolctl import threadpool_limits

    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    threadpool_limits(1)
