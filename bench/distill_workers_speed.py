"""DAgger rollouts in one process and in worker processes (``DistillConfig.workers``,
``learn/distill.RolloutPool``): wall time of the same rollouts, and that the labels are the same.

Two generated walks (1.60 m / 58 kg and 1.75 m / 70 kg, 4 s), a student from one DAgger iteration
on a 1 s walk, teacher probability 0.5, ``--rollouts`` rollouts of 1.5 s.

    .venv/bin/python bench/distill_workers_speed.py     # bench/results/distill_workers_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from paths import REPO  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rollouts", type=int, default=8)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    from kintwin.control.wholebody import WholeBodyConfig
    from kintwin.learn.distill import DistillConfig, RolloutPool, collect, distill, teaching
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.motion.sample import sample_walk

    walk = sample_walk(duration_s=1.0)
    policy, _ = distill([(default_skeleton(walk.subject.height_m, walk.subject.mass_kg), walk)],
                        DistillConfig(iterations=1, rollouts_per_iteration=4, policy_hidden=(256, 256)))
    walks = [sample_walk(duration_s=4.0, cycle_s=c, height_m=h, mass_kg=m)
             for h, m, c in ((1.60, 58.0, 1.00), (1.75, 70.0, 1.10))]
    trials = [(default_skeleton(w.subject.height_m, w.subject.mass_kg), w) for w in walks]
    sims = teaching(trials)
    cfg = DistillConfig(rollout_s=1.5)
    t = time.perf_counter()
    here = collect(sims, policy, 0.5, cfg, np.random.default_rng(1), args.rollouts)
    one = time.perf_counter() - t
    t = time.perf_counter()
    pool = RolloutPool(trials, WholeBodyConfig(), None, args.workers)
    try:
        first = collect(sims, policy, 0.5, cfg, np.random.default_rng(1), args.rollouts, pool=pool)
        first_s = time.perf_counter() - t  # includes starting the workers and their teachers
        t = time.perf_counter()
        again = collect(sims, policy, 0.5, cfg, np.random.default_rng(1), args.rollouts, pool=pool)
        again_s = time.perf_counter() - t
    finally:
        pool.close()
    same = all(np.array_equal(a, b) for a, b in zip(here, first)) and \
        all(np.array_equal(a, b) for a, b in zip(here, again))
    result = {"cpus": os.cpu_count(), "workers": args.workers, "rollouts": args.rollouts,
              "labels": int(len(here[1])), "one_process_s": one, "pool_first_call_s": first_s,
              "pool_s": again_s, "same_labels": same}
    print(json.dumps(result, indent=1))
    (REPO / "bench" / "results" / "distill_workers_speed.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
