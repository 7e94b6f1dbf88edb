"""Distilling the whole-body controller into a policy (``learn/distill.py``) on subject01 walking,
then the distilled policy alone (no controller in the loop) against force plates and OpenSim ID.

Trial: subject01 gait2354 IK 0.4-1.6 s (``bench_controller_twin``'s), 1.803 m, 72.6 kg; plates
and ``ID_inverse_dynamics.sto`` only score. Writes ``bench/results/distill_subject01.json`` (the
DAgger log, wall time, and the twin's metrics next to the controller's) and the policy
``bench/results/distill_subject01.npz``.

    .venv/bin/python bench/bench_distill.py [--iterations 8] [--rollouts 40] [--augment-copies 3] [--epochs 20]
    .venv/bin/python bench/bench_distill.py --score-only   # re-score the committed policy
    .venv/bin/python bench/bench_distill.py --muscles       # the muscle-driven twin (issue 18; 40 epochs, teacher reserve weight 0.15)
    .venv/bin/python bench/bench_distill.py --uniform-fit   # each fit without the spread weights
    .venv/bin/python bench/bench_distill.py --muscles --teacher-reserve-weight 0.2  # labels from a teacher sparing reserves

``--muscles``: the muscle-driven twin's controller (``bench_muscle_twin``'s setting: subject01
gait2392 IK 0.5-1.6 s, subject01's scaled gait2392 muscles, ``ID_InverseDynamicsOutput.sto``);
writes ``bench/results/distill_muscles_subject01.{json,npz}`` with the controller's and the
policy's figures, reserves and activations against OpenSim SO. ``--trial sample_walk``: the
generated sample walk instead (``distill_[muscles_]sample_walk.{json,npz}``; with ``--muscles`` the
shipped muscles), scored against its own kinematics and the controller only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller_twin import KEYS, REPO, trials  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from kintwin.learn.distill import DistillConfig

    default = DistillConfig()
    ap.add_argument("--iterations", type=int, default=default.iterations)
    ap.add_argument("--rollouts", type=int, default=default.rollouts_per_iteration)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--action-noise", type=float, default=0.03,
                    help="DART noise on the teacher's executed actions (fraction of peak torque)")
    ap.add_argument("--augment-copies", type=int, default=default.augment_copies,
                    help="perturbed copies of each labelled state (DistillConfig.augment_copies)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="passes over the labels per fit (default: distill.default_config's, 20; "
                         "40 with --muscles)")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench_distill")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "distill_subject01.json")
    ap.add_argument("--muscles", action="store_true", help="the muscle-driven twin (module doc)")
    ap.add_argument("--trial", choices=("subject01", "sample_walk"), default="subject01",
                    help="sample_walk: the generated sample walk (2.2 s, the demo's subject; with "
                         "--muscles the shipped muscles; no plates or reference moments)")
    add_teacher_arguments(ap)
    ap.add_argument("--uniform-fit", action="store_true",
                    help="fit every action dimension by its plain squared error (before the "
                         "spread-weighted fit, DistillConfig.spread_weighted_fit)")
    ap.add_argument("--score-only", action="store_true",
                    help="score the policy already in --results' .npz (no distillation); updates "
                         "the two twins' entries of --results")
    args = ap.parse_args()

    from kintwin.learn.distill import default_config, distill
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.kinematics_io import read_motion

    sample = args.trial == "sample_walk"
    spec = trials(args.out)["sample_walk" if sample else
                            "subject01_walk_gait2392" if args.muscles else "subject01_walk"]
    skeleton = resolve_subject(SubjectSpec(spec["height"], spec["mass"]))
    muscles = None
    if args.muscles:
        from bench_muscle_twin import DATA as S01, SO

        from kintwin.twin.controlled import MuscleDrive

        # subject01: its own scaled gait2392 muscles, scored against its OpenSim SO as well
        muscles = MuscleDrive() if sample else MuscleDrive(S01 / "gait2392" / "subject01_simbody.osim")
        if not sample:
            spec["so"] = str(SO)
    if args.results.name == "distill_subject01.json":
        args.results = args.results.with_name(f"distill_{'muscles_' if args.muscles else ''}"
                                               f"{'sample_walk' if sample else 'subject01'}.json")
    ckpt = args.results.with_suffix(".npz")
    if args.score_only:
        result = json.loads(args.results.read_text())
    else:
        cfg = default_config(args.muscles, iterations=args.iterations,
                             rollouts_per_iteration=args.rollouts, action_noise=args.action_noise,
                             seed=args.seed, augment_copies=args.augment_copies,
                             spread_weighted_fit=not args.uniform_fit,
                             **({} if args.epochs is None else {"epochs": args.epochs}))
        t0 = time.perf_counter()
        teacher = teacher_of(args, args.muscles)
        policy, rows = distill([(skeleton, read_motion(spec["trial"]))], cfg, teacher, muscles=muscles,
                               log=lambda r: print(json.dumps(r, default=float), flush=True))
        wall = time.perf_counter() - t0
        policy.save(ckpt, {"command": " ".join(sys.argv), "trial": Path(spec["trial"]).name})
        result = {"cpus": os.cpu_count(), "distill_config": dataclasses.asdict(cfg),
                  "teacher_config": dataclasses.asdict(teacher),
                  "distill_wall_s": wall, "log": rows, "checkpoint": str(ckpt.resolve().relative_to(REPO))}
    for name, controller in (("controller", "qp"), ("distilled_policy", "policy")):
        result[name] = score_twin(spec, args.out / name, controller, ckpt, muscles)
    args.results.write_text(json.dumps(result, indent=2, default=float) + "\n")


def add_teacher_arguments(ap) -> None:
    """The options of DAgger's teacher (``teacher_of``): the labels only, the controller scored
    is the twin's default."""
    ap.add_argument("--teacher-reserve-weight", type=float, default=None,
                    help="the teacher's reserve weight per (N*m)^2 (WholeBodyConfig.w_reserve; "
                         "default distill.default_teacher's: 0.1, 0.15 with --muscles)")
    ap.add_argument("--teacher-tight-when-moved", nargs="*", default=None,
                    help="loose coordinates the teacher tracks tightly where the trial moves them "
                         "(WholeBodyConfig.tight_when_moved; default distill.default_teacher's: "
                         "mtp_angle subtalar_angle; mtp_angle alone: the teacher of 2026-12-06's tenth session; "
                         "the flag alone: none, the teacher before it)")
    ap.add_argument("--teacher-trunk-weight", type=float, default=None,
                    help="the teacher's weight per (rad/s^2)^2 on the lumbar joints' acceleration "
                         "error (WholeBodyConfig.w_joint_trunk; default distill.default_teacher's: 1.0, "
                         "with --muscles w_joint, 0.1; 0.3: the torque teacher of 2026-12-07's "
                         "twelfth session; 0.1: before it)")
    ap.add_argument("--teacher-swing-hz", type=float, default=None,
                    help="the teacher's PD frequency on an unloaded foot's ankle, subtalar and toes "
                         "(WholeBodyConfig.swing_joint_hz; default distill.default_teacher's: 12; "
                         "4, i.e. joint_hz: the torque teacher before 2026-12-07's fifteenth "
                         "session, the muscle teacher before its sixteenth)")


def teacher_of(args, muscles: bool):
    """``distill.default_teacher(muscles)`` with the options of ``add_teacher_arguments``."""
    from kintwin.learn.distill import default_teacher

    teacher = default_teacher(muscles)
    if args.teacher_reserve_weight is not None:
        teacher = dataclasses.replace(teacher, w_reserve=args.teacher_reserve_weight)
    if args.teacher_tight_when_moved is not None:
        teacher = dataclasses.replace(teacher, tight_when_moved=tuple(args.teacher_tight_when_moved))
    if args.teacher_trunk_weight is not None:
        teacher = dataclasses.replace(teacher, w_joint_trunk=args.teacher_trunk_weight)
    if args.teacher_swing_hz is not None:
        teacher = dataclasses.replace(teacher, swing_joint_hz=args.teacher_swing_hz)
    return teacher


def score_twin(spec: dict, out: Path, controller: str, ckpt: Path, muscles=None) -> dict:
    """``kintwin analyze`` of the trial ``spec`` with ``controller`` ("qp", or "policy": the policy
    ``ckpt``, None: the shipped one for the trial) into ``out``: its figures vs plates and OpenSim ID (``KEYS``), completed fraction,
    real-time factor, and for the muscle-driven twin the activations vs OpenSim SO."""
    from kintwin.models.subject import SubjectSpec
    from kintwin.twin.analyze import TrialJob, analyze_trial

    job = TrialJob(trial=spec["trial"], out_dir=out, subject=SubjectSpec(spec["height"], spec["mass"]),
                   grf=spec.get("grf"), loads=spec.get("loads"), reference_id=spec.get("reference_id"),
                   controller=controller, policy=ckpt and str(ckpt), muscles=str(muscles.source) if muscles else None)
    m = analyze_trial(job, progress=False)
    info = json.loads((out / "metrics.json").read_text())["info"]
    result = {**{k: m.get(k) for k in KEYS + ("completed_fraction",)}, "realtime_factor": info["realtime_factor"]}
    if muscles:
        result["muscles"] = m.get("muscles")
    if muscles and spec.get("so"):
        from bench_muscle_twin import correlations

        from kintwin.motion.storage import read_table

        act = read_table(out / "activations.sto")
        r = correlations(act.time_s, act.data, act.labels, read_table(spec["so"]))
        result.update({"activation_r_vs_so": r,
                       "activation_r_vs_so_median": float(np.median([v for v in r.values() if v is not None]))})
    print(out.name, json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, default=float),
          flush=True)
    return result


if __name__ == "__main__":
    main()
