"""Distil the whole-body controller into a general policy of one gait (``--ship``: as the shipped
walking or running policy, ``kintwin.twin.runner.SHIPPED_POLICIES``, what ``kintwin analyze
--controller policy`` runs without ``--policy``; the default controller is the QP), and score it
against the controller on subject01, hamner_run and the sample walk.

Motion library (``--gait``; every trial also mirrored left/right; each on the built-in model
scaled to its subject, as ``kintwin analyze`` builds it):

* walk: generated walking (``kintwin.motion.sample.sample_walk``, 4 s) of made-up subjects
  (``GENERATED``, ``--generated``): plain, three of different size and cadence at one posture,
  1.60 m / 58 kg / 1.00 s cycle, 1.75 m / 70 kg / 1.10 s (the demo's subject), 1.90 m / 85 kg /
  1.20 s; varied, the same three holding the pelvis at -12, -3 and +6 deg of tilt and two faster
  walks (1.70 m, 0.90 s, -15 deg, strides 1.1x: 1.3 m/s; 1.82 m, 0.85 s, 0 deg, 1.1x: 1.43
  m/s); bodies, the varied walks with four of the five subjects given their own segment
  proportions (``segment_scales``: femur, tibia, foot, pelvis, torso 0.9-1.2x the uniform
  scaling), each walk made consistent on its body; styles, the bodies' walks each with its own
  pelvic list and rotation, hip adduction, trunk and arm swing (``STYLES``); slow, the bodies'
  walks and two slow ones with short strides (1.65 m, 1.35 s, strides 0.8x; 1.80 m, 1.50 s,
  0.7x: 0.7-0.8 m/s) on bodies of their own proportions; speeds, those and two fast ones at a high
  cadence (1.72 m, 0.80 s, strides 1.12x; 1.85 m, 0.75 s, 1.1x: 1.48-1.69 m/s); and
  ``../shared/data`` subject01 treadmill walking
  (gait2392 IK, 0.5-4.0 s, 1.803 m, 72.6 kg);
* run: ``../shared/data`` hamner_run treadmill running (IK 0.5-4.5 s, 1.83 m, 65.9 kg);
* all: both.

The data is read at training time, only the weights are committed. Plates and reference moments
never enter the training.

DAgger (``learn/distill.py``) with rollouts of at most ``--rollout-s`` from random perturbed
starts, trials in turn; the iteration whose policy, alone, tracks best (completed fraction, then
the score of tracking and kinetics, from 4 random starts per trial: ``DistillConfig.eval_starts``)
is kept; its evaluation is the last ``selected`` row of the log, the same episodes for every
``--seed``, so runs of several seeds compare. Scoring: ``kintwin analyze`` with the policy and
with the controller (``bench_controller_twin``'s trials: subject01 gait2354 IK 0.4-1.6 s,
hamner_run 0.70-1.43 s and 1.5-5.5 s, the sample walk); the issue's target is the policy within
1.25x of the controller on each figure.

    .venv/bin/python bench/distill_shipped_policy.py --gait walk --iterations 8 --workers 1 --ship
    .venv/bin/python bench/distill_shipped_policy.py --gait run --iterations 8 --workers 1 --ship
    .venv/bin/python bench/distill_shipped_policy.py --score-only   # the shipped pair, as analyze picks

Writes ``bench/results/distill_shipped_policy_<gait>.json`` (config, DAgger log, wall time, both
twins' figures and their ratios), with ``--score-only`` ``bench/results/shipped_policies.json``.
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
from bench_distill import add_teacher_arguments, score_twin, teacher_of  # noqa: E402
from bench_twin import DATA  # noqa: E402

from kintwin.motion.sample import GaitShape  # noqa: E402

#: the generated walks of ``--generated``: height m, mass kg, cycle s, ``motion.sample.GaitShape``
#: fields, body proportions (``PROPORTION_BODIES``: segment lengths over the uniform scaling to
#: the height; None: uniform). "plain": one posture and speed; "varied" holds the pelvis as real
#: trials do (OpenSim IK of four subjects: -14 to +6 deg) and walks faster (1.0-1.43 m/s; the plain
#: walks and subject01's belt are at 1.0-1.04, walking2 at 1.66); "bodies" is "varied" on bodies
#: of their own proportions (a marker IK scales each segment: walking2's femurs and feet 1.2x,
#: pelvis 0.9x); "styles" is "bodies" with each subject's own pelvic list and rotation, hip
#: adduction, trunk and arm swing (``STYLES``: factors on ``GaitShape``'s amplitudes)
_UNIFORM = None
_VARIED = [(1.60, 58.0, 1.00, dict(pelvis_tilt=-12.0)), (1.75, 70.0, 1.10, {}),
           (1.90, 85.0, 1.20, dict(pelvis_tilt=6.0)), (1.70, 64.0, 0.90, dict(pelvis_tilt=-15.0, stride=1.1)),
           (1.82, 76.0, 0.85, dict(pelvis_tilt=0.0, stride=1.1))]
_PROPORTIONS = [dict(femur=1.10, tibia=0.95, foot=1.05, pelvis=0.95), _UNIFORM,
                dict(femur=0.92, tibia=1.08, foot=0.95, pelvis=1.05),
                dict(femur=1.20, tibia=0.95, foot=1.20, pelvis=0.90),
                dict(tibia=1.10, foot=1.10, torso=0.95)]
STYLES = [dict(list_amp=1.4, adduction_amp=1.5, rotation_amp=0.7, arm_swing=0.5), {},
          dict(list_amp=0.6, adduction_amp=0.5, rotation_amp=1.3, arm_swing=1.3),
          dict(list_amp=1.2, adduction_amp=0.7, rotation_amp=1.4, lumbar_rotation_amp=1.5),
          dict(list_amp=0.8, adduction_amp=1.3, rotation_amp=0.8, lumbar_bending_amp=1.5, arm_swing=0.7)]
GENERATED = {"plain": [(1.60, 58.0, 1.00, {}, _UNIFORM), (1.75, 70.0, 1.10, {}, _UNIFORM),
                       (1.90, 85.0, 1.20, {}, _UNIFORM)],
             "varied": [w + (_UNIFORM,) for w in _VARIED],
             "bodies": [w + (p,) for w, p in zip(_VARIED, _PROPORTIONS)],
             "styles": [(h, m, c, {**shape, **{k: f * getattr(GaitShape(), k) for k, f in style.items()}}, p)
                        for (h, m, c, shape), style, p in zip(_VARIED, STYLES, _PROPORTIONS)]}
#: "slow": "bodies" and two slow walks with short strides (0.78 and 0.70 m/s on the demo's
#: subject; clinical walking is often slower than 0.8 m/s), on bodies of their own proportions
_SLOW = [(1.65, 60.0, 1.35, dict(pelvis_tilt=-8.0, stride=0.8), dict(femur=1.05, foot=0.95, torso=1.05)),
         (1.80, 82.0, 1.50, dict(pelvis_tilt=2.0, stride=0.7), dict(femur=0.95, tibia=1.05, pelvis=1.10))]
GENERATED["slow"] = GENERATED["bodies"] + _SLOW
#: "speeds": "slow" and two fast walks, at a high cadence and strides no longer than 1.12x (1.48
#: and 1.69 m/s; longer strides bend the generated stance knee backwards: ``GaitShape.stride``)
_FAST = [(1.72, 66.0, 0.80, dict(pelvis_tilt=-5.0, stride=1.12), dict(femur=1.05, tibia=1.05)),
         (1.85, 80.0, 0.75, dict(pelvis_tilt=-10.0, stride=1.1), dict(tibia=1.08, foot=1.05, pelvis=1.05))]
GENERATED["speeds"] = GENERATED["slow"] + _FAST
#: "heldout": in no library, to check a policy with (``--evaluate``): the demo's subject (1.75 m,
#: 70 kg, uniform scaling, default posture) walking slow (0.70-0.89 m/s) and fast (1.29-1.60 m/s)
GENERATED["heldout"] = [(1.75, 70.0, cycle, dict(stride=stride) if stride != 1.0 else {}, _UNIFORM)
                        for cycle, stride in ((1.2, 0.9), (1.25, 1.0), (1.35, 0.8), (1.4, 1.0),
                                              (1.5, 0.7), (0.9, 1.1), (0.8, 1.12), (0.75, 1.1))]
#: the built-in model's bodies of each proportion group
PROPORTION_BODIES = {"femur": ("femur_r", "femur_l"), "tibia": ("tibia_r", "tibia_l"),
                     "foot": ("talus_r", "talus_l", "calcn_r", "calcn_l", "toes_r", "toes_l"),
                     "pelvis": ("pelvis",), "torso": ("torso",)}


def segment_scales(height_m: float, proportions: dict[str, float] | None) -> dict[str, float] | None:
    """``default_skeleton``'s per-body factors (relative to the generic 1.80 m model) for a body of
    ``height_m`` whose proportion groups are ``proportions`` times the uniform scaling."""
    if proportions is None:
        return None
    from kintwin.models.anthropometry import GENERIC_HEIGHT_M

    return {body: k * height_m / GENERIC_HEIGHT_M
            for group, k in proportions.items() for body in PROPORTION_BODIES[group]}


RECORDED = [(DATA / "osim_subject01_walk" / "gait2392" / "subject01_walk1_ik.mot", (0.5, 4.0), 1.803, 72.6),
            (DATA / "hamner_run" / "IK" / "subject02_running_ik.mot", (0.5, 4.5), 1.83, 65.9)]
#: figures compared with the controller's (lower is better); the ratio target is 1.25
RATIO_KEYS = ("joint_angle_mae_deg", "pelvis_position_error_cm", "residual_force_mean_pct_bw",
              "grf_vertical_rmse_pct_bw", "moment_sagittal_rmse_nm_per_kg", "gait_event_error_ms")


def library(gait: str = "all", generated: str = "plain",
            capture_errors: bool = False) -> list[tuple[str, object, object]]:
    """(name, skeleton, motion) of every training trial, mirrored copies included; ``gait``:
    "walk" (no hamner_run), "run" (hamner_run alone) or "all"; ``generated``: which walks of
    ``GENERATED``; ``capture_errors``: the generated walks' mirrored copies as an IK of a capture
    might give them (``motion.sample.with_capture_errors``, seeded by their place; every other one
    with the arms at 0 deg, as an IK without arm markers holds them)."""
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.motion.sample import sample_walk, with_capture_errors

    out = []
    for h, m, cycle, fields, proportions in GENERATED[generated] if gait != "run" else []:
        shape, scales = GaitShape(**fields), segment_scales(h, proportions)
        gait_name = "".join(f"_{k}{v:.3g}" for k, v in fields.items())
        body = "" if proportions is None else "_" + "_".join(f"{g}{k:g}" for g, k in proportions.items())
        out.append((f"sample_walk_{h}m_{m}kg_{cycle}s{gait_name}{body}",
                    resolve_subject(SubjectSpec(h, m, scales=scales)),
                    sample_walk(duration_s=4.0, cycle_s=cycle, height_m=h, mass_kg=m, shape=shape,
                                segment_scales=scales)))
    for path, (t0, t1), h, m in {"all": RECORDED, "walk": RECORDED[:1], "run": RECORDED[1:]}[gait]:
        if not path.is_file():
            sys.exit(f"{path} not found (set KINTWIN_SHARED_DATA)")
        out.append((f"{path.stem}_{t0}-{t1}", resolve_subject(SubjectSpec(h, m)),
                    read_motion(path).slice_time(t0, t1)))
    mirrored = []
    for k, (name, sk, motion) in enumerate(out):
        if capture_errors and name.startswith("sample_walk"):
            arms = k % 2 == 1  # every other one as an IK without arm markers gives it
            mirrored.append((name + "_mirrored_captured" + "_arms0" * arms, sk,
                             with_capture_errors(motion.mirrored(), seed=k, arms_at_zero=arms)))
        else:
            mirrored.append((name + "_mirrored", sk, motion.mirrored()))
    return out + mirrored


def evaluate_on_library(paths, lib, starts_per_trial: int) -> None:
    """Print DAgger's evaluation (``learn.finetune.evaluate`` from the starts ``distill`` draws,
    ``starts_per_trial`` of them) of each policy in ``paths`` on the library ``lib``."""
    from kintwin.learn.distill import DistillConfig, evaluation_episodes, load_distilled, teaching
    from kintwin.learn.finetune import evaluate

    policies = [load_distilled(p) for p in paths]
    sims = teaching([(sk, motion) for _, sk, motion in lib], policies[0].controller)
    env, starts = evaluation_episodes(sims, policies[0], starts_per_trial)
    for path, policy in zip(paths, policies):
        print(path, json.dumps(evaluate(env, policy, starts)), flush=True)


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
    ap.add_argument("--gait", choices=("all", "walk", "run"), default="all",
                    help="the library: every trial, the walks alone, or hamner_run alone")
    ap.add_argument("--generated", choices=tuple(GENERATED), default="plain",
                    help="the generated walks (GENERATED): three at one posture and speed, five "
                         "at real trials' pelvis tilts and up to 1.43 m/s, those five on bodies of "
                         "their own proportions, or those with their own frontal and arm swing, "
                         "or the bodies' walks and two slow ones (0.7-0.8 m/s), or those and two "
                         "fast ones (1.48-1.69 m/s); heldout: slow and fast walks of the demo's "
                         "subject in no library, for --evaluate")
    ap.add_argument("--capture-errors", action="store_true",
                    help="the generated walks' mirrored copies with IK-like errors: smooth joint "
                         "errors, offsets, toes locked, every other one's arms at 0 deg "
                         "(motion.sample.with_capture_errors)")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "distill_shipped_policy")
    ap.add_argument("--results", type=Path, default=None,
                    help="default bench/results/distill_shipped_policy_<gait>.json, with "
                         "--score-only bench/results/shipped_policies.json")
    ap.add_argument("--ship", action="store_true",
                    help="copy the policy to the shipped walking (--gait walk) or running (--gait run) one")
    ap.add_argument("--evaluate", type=Path, nargs="+", metavar="CKPT",
                    help="no training: DAgger's evaluation (DistillConfig.eval_starts episodes per "
                         "trial, the same for each) of these policies on the --gait library, to "
                         "choose among runs of several seeds by the library alone")
    ap.add_argument("--eval-starts", type=int, default=None,
                    help="with --evaluate: episodes per trial (default DistillConfig.eval_starts, "
                         "as DAgger chooses its iteration); more, to tell close policies apart")
    ap.add_argument("--score-only", action="store_true",
                    help="score the shipped policies (no training), each trial by the one analyze picks")
    add_teacher_arguments(ap)
    args = ap.parse_args()

    from kintwin.learn.distill import DistillConfig, distill
    from kintwin.twin.runner import SHIPPED_POLICIES

    if args.evaluate:
        return evaluate_on_library(args.evaluate, library(args.gait, args.generated, args.capture_errors),
                                   args.eval_starts or DistillConfig().eval_starts)
    if args.generated == "heldout":
        ap.error("--generated heldout is for --evaluate: those walks are in no training library")
    if args.ship and args.gait == "all":
        ap.error("--ship needs --gait walk or --gait run (the shipped policies are one per gait)")
    results = REPO / "bench" / "results"
    args.results = args.results or results / ("shipped_policies.json" if args.score_only else
                                              f"distill_shipped_policy_{args.gait}.json")
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = None if args.score_only else args.out / "policy.npz"
    if args.score_only:
        result = {"cpus": os.cpu_count(),
                  "policies": {gait: str(p.relative_to(REPO)) for gait, p in SHIPPED_POLICIES.items()}}
    else:
        lib = library(args.gait, args.generated, args.capture_errors)
        cfg = DistillConfig(iterations=args.iterations, rollouts_per_iteration=args.rollouts,
                            rollout_s=args.rollout_s, epochs=args.epochs, seed=args.seed,
                            augment_copies=args.augment_copies, workers=args.workers)
        print("library:", [name for name, _, _ in lib], flush=True)
        t0 = time.perf_counter()
        teacher = teacher_of(args, False)
        policy, rows = distill([(sk, motion) for _, sk, motion in lib], cfg, teacher,
                               log=lambda r: print(json.dumps(r, default=float), flush=True))
        wall = time.perf_counter() - t0
        command = "bench/distill_shipped_policy.py " + " ".join(sys.argv[1:])
        policy.save(ckpt, {"command": command, "library": [name for name, _, _ in lib]})
        result = {"cpus": os.cpu_count(), "distill_config": dataclasses.asdict(cfg),
                  "teacher_config": dataclasses.asdict(teacher), "library": [name for name, _, _ in lib],
                  "distill_wall_s": wall, "log": rows}
        if args.ship:
            shutil.copyfile(ckpt, SHIPPED_POLICIES[{"walk": "walking", "run": "running"}[args.gait]])
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
