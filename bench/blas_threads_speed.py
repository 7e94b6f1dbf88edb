"""Two processes at once, with and without one BLAS thread each (``kintwin.workers``): the wall
time of ``kintwin analyze``'s work on the generated sample walk (the demo's trial, 2.2 s) in
parallel worker processes, as ``analyze_trials`` runs a batch, and of one process alone.

Two workloads: the torque twin (``--controller qp``) and the muscle-driven twin (``--muscles``,
the shipped gait2392 muscles: the controller's QP is ~180 variables wide instead of ~60). Each
pool runs ``--jobs`` trials on ``--workers`` processes; no video. The metrics of every job are
compared too: one BLAS thread must not change the twin (equal figures).

    .venv/bin/python bench/blas_threads_speed.py      # bench/results/blas_threads_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from paths import REPO  # noqa: E402
FIGURES = ("joint_angle_mae_deg", "residual_force_mean_pct_bw")


def run_pool(jobs, workers: int, one_thread: bool) -> tuple[float, list[dict]]:
    from kintwin.twin.analyze import analyze_trial
    from kintwin.workers import one_blas_thread

    t = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=one_blas_thread if one_thread else None) as pool:
        metrics = list(pool.map(analyze_trial, jobs, [False] * len(jobs)))
    return time.perf_counter() - t, metrics


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--jobs", type=int, default=None, help="trials per pool (default 2 per worker)")
    args = ap.parse_args()
    n_jobs = args.jobs or 2 * args.workers

    from kintwin.models.muscles import SHIPPED_MUSCLES
    from kintwin.models.subject import SubjectSpec
    from kintwin.twin.analyze import SAMPLE, TrialJob, analyze_trial

    result = {"cpus": os.cpu_count(), "workers": args.workers, "jobs": n_jobs, "trial": "sample (2.2 s)"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, muscles in (("torque_qp", None), ("muscles", str(SHIPPED_MUSCLES))):
            jobs = [TrialJob(SAMPLE, Path(tmp) / f"{name}{k}", SubjectSpec(None, None), controller="qp",
                             muscles=muscles) for k in range(n_jobs)]
            t = time.perf_counter()
            alone = analyze_trial(jobs[0], False)
            alone_s = time.perf_counter() - t
            row = {"one_process_one_trial_s": alone_s}
            for one_thread in (False, True):
                wall, metrics = run_pool(jobs, args.workers, one_thread)
                key = "one_blas_thread" if one_thread else "default_blas_threads"
                row[key] = {"wall_s": wall, "per_trial_s": wall * args.workers / n_jobs,
                            **{f: [m[f] for m in metrics] for f in FIGURES}}
            row["speedup"] = row["default_blas_threads"]["wall_s"] / row["one_blas_thread"]["wall_s"]
            row["same_figures"] = all(row["default_blas_threads"][f] == row["one_blas_thread"][f] for f in FIGURES)
            result[name] = row
            print(name, json.dumps(row), flush=True)
    (REPO / "bench" / "results" / "blas_threads_speed.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
