"""kintwin analyze: run the digital twin on trials; metrics, OpenSim exports and an HTML report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InputError
from .common import (add_subject_arguments, add_time_arguments, add_trial_arguments, check_files,
                     check_out_dir, nonneg_int, parse_foot_of, positive_int, subject_spec)
from .id_cmd import add_reference_convention_argument
from .muscles_cmd import add_muscle_arguments, muscles_osim_path

HELP = ("run the twin (a trained policy or the whole-body controller) over trials: metrics.json, kinematics.mot, torques.sto, "
        "grf.mot, residuals.sto and report.html per trial, plus a summary across trials")


def trial_names(trials) -> dict:
    """Each trial's output folder name: its file stem, or, where stems repeat (the same file name
    in several folders), its parent folder and stem, then a number, so none overwrites another."""
    stems = [Path(t).stem for t in trials]
    names = {}
    for t, stem in zip(trials, stems):
        base = stem if stems.count(stem) == 1 else f"{Path(t).parent.name}_{stem}"
        name, k = base, 2
        while name in names.values():
            name, k = f"{base}_{k}", k + 1
        names[t] = name
    return names


def add_arguments(p):
    p.add_argument("trials", nargs="+", help="kinematics files (.mot/.sto), folders of them, or "
                                             "'sample' for the generated sample walking trial")
    add_subject_arguments(p)
    p.add_argument("--controller", choices=("policy", "qp"), default=None,
                   help="what drives the twin: 'policy' (a trained policy, --policy) or 'qp' (the "
                        "whole-body QP controller: no training, any model); default: qp, or the "
                        "policy when --policy or --finetune-steps is given. Without --policy the "
                        "shipped policies run: distilled from the controller, one for walking and "
                        "one for running (chosen by the trial's flight phases; BENCHMARKS.md)")
    p.add_argument("--muscles", action="store_true",
                   help="the muscle-driven twin: legs and trunk driven by Hill-type muscles "
                        "(--muscles-osim, default the shipped gait2392 muscles), the whole-body "
                        "controller planning their activations (or --policy: one distilled from "
                        "it by kintwin train --distill --muscles); also writes activations.sto, "
                        "muscle_forces.sto, reserves.sto")
    add_muscle_arguments(p)
    p.add_argument("--policy", type=Path, default=None,
                   help="policy checkpoint from `kintwin train` (with --controller policy and no "
                        "--policy: the shipped walking or running policy)")
    p.add_argument("--finetune-steps", type=nonneg_int, default=0,
                   help="fine-tune the policy on each trial with this many PPO env steps first "
                        "(a distilled policy: updates of 1024 steps x up to 128 envs, the first 5 "
                        "train the critic alone, the best evaluation is kept)")
    p.add_argument("--grf", type=Path, help="force plates (GRF .mot or a .c3d), used only to score the twin")
    p.add_argument("--loads", type=Path, help="OpenSim ExternalLoads .xml assigning GRF columns to feet")
    p.add_argument("--foot-of", default=None,
                   help="foot assignment without --loads, e.g. 'ground=r,1_ground=l' (.c3d: plate "
                        "numbers, '1=r,2=l'; default: the foot on the plate)")
    p.add_argument("--reference-id", type=Path, help="OpenSim inverse dynamics .sto to score the torques")
    add_reference_convention_argument(p)
    add_trial_arguments(p)
    add_time_arguments(p)
    p.add_argument("--video", action="store_true",
                   help="add a video of the twin beside the reference to each report (needs OpenGL: "
                        "EGL or OSMesa without a display; skipped with a message otherwise)")
    p.add_argument("--workers", type=positive_int, default=2, help="trials analyzed in parallel")
    p.add_argument("--out", type=Path, required=True, help="output folder")


def run(args):
    from ..report.summary import summary_row, write_summary
    from ..twin.analyze import TrialJob, analyze_trials, controller_of, expand_trials

    trials = expand_trials(args.trials)
    if len(trials) > 1 and (args.grf or args.reference_id):
        raise ValueError("--grf and --reference-id belong to one trial: analyze that trial alone")
    check_files(args.grf, args.loads, args.reference_id, args.policy, args.coordinate_map)
    check_out_dir(args.out, create=False)  # created once a trial's results are ready
    spec = subject_spec(args)
    spec.check()
    muscles = None
    controller = args.controller
    if args.muscles:
        if args.controller == "policy" and not args.policy:
            raise InputError("the shipped policy drives the torque-driven twin, not the muscles",
                             advice="give --policy of a policy distilled with kintwin train "
                                    "--muscles, or leave out --controller policy")
        muscles = str(muscles_osim_path(args))
    elif args.muscles_osim:
        raise InputError("--muscles-osim needs --muscles", advice="add --muscles")
    names = trial_names(trials)
    jobs = [TrialJob(trial=t, out_dir=args.out if len(trials) == 1 else args.out / names[t],
                     subject=spec, policy=str(args.policy) if args.policy else None,
                     finetune_steps=args.finetune_steps, grf=args.grf and str(args.grf),
                     loads=args.loads and str(args.loads), foot_of=parse_foot_of(args.foot_of),
                     reference_id=args.reference_id and str(args.reference_id),
                     reference_convention=args.reference_convention, convention=args.convention,
                     coordinate_map=args.coordinate_map and str(args.coordinate_map),
                     angle_units=args.angle_units, allow_out_of_range=args.allow_out_of_range,
                     start=args.start, end=args.end, video=args.video,
                     controller=controller, muscles=muscles)
            for t in trials]
    results = analyze_trials(jobs, workers=args.workers)
    failed = [(j, e) for j, e in results if isinstance(e, Exception)]
    if len(jobs) > 1:
        rows = [summary_row(names[j.trial], m) for j, m in results if not isinstance(m, Exception)]
        if rows:
            csv_path, html_path = write_summary(rows, args.out)
            print(f"summary of {len(rows)} trial(s): {csv_path}, {html_path}")
    for j, e in failed:
        print(f"kintwin analyze: {j.trial}: error: {e}", file=sys.stderr)
    fell = [j for j, m in results if not isinstance(m, Exception) and not m.get("completed")]
    if len(jobs) == 1:
        m = results[0][1]
        keys = ("completed", "completed_fraction", "joint_angle_mae_deg", "pelvis_position_error_cm",
                "residual_force_mean_pct_bw", "gait_event_error_ms")
        print(json.dumps({k: m.get(k) for k in keys}, indent=1, default=str))
    for j, m in results:
        if j in fell:
            advice = ("; the whole-body controller tracks what a policy loses: leave out --controller "
                      "policy and --policy" if controller_of(j) == "policy" else "")
            print(f"kintwin analyze: {j.trial}: the twin did not complete the trial (fell or lost "
                  f"track at {100 * (m.get('completed_fraction') or 0):.0f} % of it): its kinetics "
                  f"are not trustworthy (outputs written and flagged in metrics.json){advice}",
                  file=sys.stderr)
    if failed:
        return 2 if all(isinstance(e, ValueError) for _, e in failed) else 1
    return 3 if fell else 0
