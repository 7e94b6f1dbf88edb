"""kintwin analyze: run the digital twin on trials; metrics, OpenSim exports and an HTML report."""

from __future__ import annotations

import json
from pathlib import Path

from .common import add_convention_argument, add_subject_arguments

HELP = ("run the twin (a trained policy or the whole-body controller) over trials: metrics.json, kinematics.mot, torques.sto, "
        "grf.mot, residuals.sto and report.html per trial, plus a summary across trials")


def add_arguments(p):
    p.add_argument("trials", nargs="+", help="kinematics files (.mot/.sto), folders of them, or "
                                             "'sample' for the generated sample walking trial")
    add_subject_arguments(p)
    p.add_argument("--controller", choices=("policy", "qp"), default=None,
                   help="what drives the twin: 'policy' (a trained policy, --policy) or 'qp' (the "
                        "whole-body QP controller: no training, any model); default: the policy "
                        "where it fits the model, else qp")
    p.add_argument("--policy", type=Path, default=None,
                   help="policy checkpoint from `kintwin train` (default: the shipped policy)")
    p.add_argument("--finetune-steps", type=int, default=0,
                   help="fine-tune the policy on each trial with this many PPO env steps first")
    p.add_argument("--grf", type=Path, help="force plates (GRF .mot), used only to score the twin")
    p.add_argument("--loads", type=Path, help="OpenSim ExternalLoads .xml assigning GRF columns to feet")
    p.add_argument("--foot-of", default=None,
                   help="foot assignment without --loads, e.g. 'ground=r,1_ground=l'")
    p.add_argument("--reference-id", type=Path, help="OpenSim inverse dynamics .sto to score the torques")
    add_convention_argument(p)
    p.add_argument("--video", action="store_true",
                   help="add a video of the twin beside the reference to each report (needs OpenGL: "
                        "EGL or OSMesa without a display; skipped with a message otherwise)")
    p.add_argument("--workers", type=int, default=2, help="trials analyzed in parallel")
    p.add_argument("--out", type=Path, required=True, help="output folder")


def parse_foot_of(text: str | None) -> dict | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, _, side = part.partition("=")
        if side not in ("r", "l"):
            raise ValueError(f"--foot-of: {part!r} must look like 'ground=r'")
        out[key.strip()] = side
    return out


def run(args):
    from ..report.summary import summary_row, write_summary
    from ..twin.analyze import TrialJob, analyze_trials, expand_trials

    trials = expand_trials(args.trials)
    if len(trials) > 1 and (args.grf or args.reference_id):
        raise ValueError("--grf and --reference-id belong to one trial: analyze that trial alone")
    skel = {"height": args.height, "mass": args.mass, "scales": args.scales, "osim": args.osim}
    jobs = [TrialJob(trial=t, out_dir=args.out if len(trials) == 1 else args.out / Path(t).stem,
                     skeleton_args=skel, policy=str(args.policy) if args.policy else None,
                     finetune_steps=args.finetune_steps, grf=args.grf and str(args.grf),
                     loads=args.loads and str(args.loads), foot_of=parse_foot_of(args.foot_of),
                     reference_id=args.reference_id and str(args.reference_id),
                     convention=args.convention, video=args.video, controller=args.controller)
            for t in trials]
    results = analyze_trials(jobs, workers=args.workers)
    failed = [(j, e) for j, e in results if isinstance(e, Exception)]
    if len(jobs) > 1:
        rows = [summary_row(Path(j.trial).stem, m) for j, m in results if not isinstance(m, Exception)]
        if rows:
            csv_path, html_path = write_summary(rows, args.out)
            print(f"summary of {len(rows)} trial(s): {csv_path}, {html_path}")
    for j, e in failed:
        print(f"kintwin analyze: {j.trial}: error: {e}")
    if len(jobs) == 1:
        m = results[0][1]
        keys = ("completed", "completed_fraction", "joint_angle_mae_deg", "pelvis_position_error_cm",
                "residual_force_mean_pct_bw", "gait_event_error_ms")
        print(json.dumps({k: m.get(k) for k in keys}, indent=1, default=str))
    return 1 if failed else 0
