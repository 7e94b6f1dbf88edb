"""Worker processes run on one BLAS thread (kintwin.workers)."""

from concurrent.futures import ProcessPoolExecutor


def _blas_threads() -> list[int]:
    import numpy as np
    from threadpoolctl import threadpool_info

    np.ones((64, 64)) @ np.ones((64, 64))  # the BLAS in use
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_a_worker_process_runs_one_blas_thread():
    from kintwin.workers import one_blas_thread

    with ProcessPoolExecutor(1, initializer=one_blas_thread) as pool:
        threads = pool.submit(_blas_threads).result()
    assert threads and all(n == 1 for n in threads)
