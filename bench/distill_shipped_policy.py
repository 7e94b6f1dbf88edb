"""Distil the whole-body controller into a general policy (``--ship``: as
``src/kintwin/data/policy.npz``, what ``kintwin analyze --controller policy`` runs without
``--policy``; the default controller is the QP), and score it against the controller on
subject01, hamner_run and the sample walk.

Motion library (every trial also mirrored left/right; each on the built-in model scaled to its
subject, as ``kintwin analyze`` builds it):

* generated walking (``kintwin.motion.sample.sample_walk``, 4 s) of three made-up subjects of
  different size and cadence: 1.60 m / 58 kg / 1.00 s cycle, 1.75 m / 70 kg / 1.10 s (the demo's
  subject), 1.90 m / 85 kg / 1.20 s;
* ``../shared/data`` subject01 treadmill walking (gait2392 IK, 0.5-4.0 s, 1.803 m, 72.6 kg) and
  hamner_run treadmill running (IK 0.5-4.5 s, 1.83 m, 65.9 kg); the data is read at training
  time, only the weights are committed. Plates and reference moments never enter the training.

DAgger (``learn/distill.py``) with rollouts of at most ``--rollout-s`` from random perturbed
starts, trials in turn; the iteration whose policy, alone, tracks best (completed fraction, then
joint error, from 2 starts per trial) is kept. Scoring: ``kintwin analyze`` with the policy and
with the controller (``bench_controller_twin``'s trials: subject01 gait2354 IK 0.4-1.6 s,
hamner_run 0.70-1.43 s, the sample walk); the issue's target is the policy within 1.25x of the
controller on each figure.

    .venv/bin/python bench/distill_shipped_policy.py --ship \
        > bench/results/distill_shipped_policy.log 2>&1
    .venv/bin/python bench/distill_shipped_policy.py --score-only   # re-score the shipped policy

Writes ``bench/results/distill_shipped_policy.json`` (config, DAgger log, wall time, both twins'
figures and their ratios).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller_twin import REPO, trials as scored_trials  # noqa: E402
from bench_distill import score_twin  # noqa: E402
from bench_twin import DATA  # noqa: E402

SHIPPED = REPO / "src" / "kintwin" / "data" / "policy.npz"
GENERATED = [(1.60, 58.0, 1.00), (1.75, 70.0, 1.10), (1.90, 85.0, 1.20)]  # height m, mass kg, cycle s
RECORDED = [(DATA / "osim_subject01_walk" / "gait2392" / "subject01_walk1_ik.mot", (0.5, 4.0), 1.803, 72.6),
            (DATA / "hamner_run" / "IK" / "subject02_running_ik.mot", (0.5, 4.5), 1.83, 65.9)]
#: figures compared with the controller's (lower is better); the ratio target is 1.25
RATIO_KEYS = ("joint_angle_mae_deg", "pelvis_position_error_cm", "residual_force_mean_pct_bw",
              "grf_vertical_rmse_pct_bw", "moment_sagittal_rmse_nm_per_kg", "gait_event_error_ms")


def library(running: bool = True) -> list[tuple[str, object, object]]:
    """(name, skeleton, motion) of every training trial, mirrored copies included (``running``:
    with hamner_run)."""
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.motion.sample import sample_walk

    out = []
    for h, m, cycle in GENERATED:
        out.append((f"sample_walk_{h}m_{m}kg_{cycle}s", resolve_subject(SubjectSpec(h, m)),
                    sample_walk(duration_s=4.0, cycle_s=cycle, height_m=h, mass_kg=m)))
    for path, (t0, t1), h, m in RECORDED[:None if running else 1]:
        if not path.is_file():
            sys.exit(f"{path} not found (set KINTWIN_SHARED_DATA)")
        out.append((f"{path.stem}_{t0}-{t1}", resolve_subject(SubjectSpec(h, m)),
                    read_motion(path).slice_time(t0, t1)))
    return out + [(name + "_mirrored", sk, motion.mirrored()) for name, sk, motion in out]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=16)
    ap.add_argument("--rollouts", type=int, default=60, help="DAgger rollouts per iteration")
    ap.add_argument("--rollout-s", type=float, default=1.5, help="longest rollout (s)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--augment-copies", type=int, default=3,
                    help="perturbed copies of each labelled state (DistillConfig.augment_copies)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes for the DAgger rollouts (DistillConfig.workers)")
    ap.add_argument("--no-running", action="store_true", help="leave hamner_run out of the library")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "distill_shipped_policy")
    ap.add_argument("--results", type=Path,
                    default=REPO / "bench" / "results" / "distill_shipped_policy.json")
    ap.add_argument("--ship", action="store_true", help=f"copy the policy to {SHIPPED.relative_to(REPO)}")
    ap.add_argument("--score-only", action="store_true", help="score the shipped policy (no training)")
    args = ap.parse_args()

    from kintwin.learn.distill import DistillConfig, distill

    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = SHIPPED if args.score_only else args.out / "policy.npz"
    if args.score_only:
        result = json.loads(args.results.read_text())
    else:
        lib = library(running=not args.no_running)
        cfg = DistillConfig(iterations=args.iterations, rollouts_per_iteration=args.rollouts,
                            rollout_s=args.rollout_s, epochs=args.epochs, eval_starts=2, seed=args.seed,
                            augment_copies=args.augment_copies, workers=args.workers)
        print("library:", [name for name, _, _ in lib], flush=True)
        t0 = time.perf_counter()
        policy, rows = distill([(sk, motion) for _, sk, motion in lib], cfg,
                               log=lambda r: print(json.dumps(r, default=float), flush=True))
        wall = time.perf_counter() - t0
        command = "bench/distill_shipped_policy.py " + " ".join(sys.argv[1:])
        policy.save(ckpt, {"command": command, "library": [name for name, _, _ in lib]})
        result = {"cpus": os.cpu_count(), "distill_config": dataclasses.asdict(cfg),
                  "library": [name for name, _, _ in lib], "distill_wall_s": wall, "log": rows}
        if args.ship:
            shutil.copyfile(ckpt, SHIPPED)
    result["scores"] = {}
    for name, spec in scored_trials(args.out / "trials").items():
        if name == "subject01_walk_gait2392":
            continue
        both = {who: score_twin(spec, args.out / name / who, controller, ckpt)
                for who, controller in (("controller", "qp"), ("policy", "policy"))}
        both["policy_over_controller"] = {
            k: both["policy"][k] / both["controller"][k]
            for k in RATIO_KEYS if both["policy"].get(k) is not None and both["controller"].get(k)}
        result["scores"][name] = both
        print(name, "policy / controller:", json.dumps(both["policy_over_controller"], default=float), flush=True)
    args.results.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
