"""How much the controller twin's figures move under a sub-millimetre change of its input: the
spread that one run's figure carries.

The twin is a closed loop with unilateral contacts; in running, a foot that loses contact for a
few milliseconds mid-stance (a bounce) and lands again puts an impact spike into the vertical GRF
wherever it happens, so one run's raw GRF error depends on exactly where the bounces fall. This
script reruns a trial with the sole calibration's contact depth (``twin.controlled.CONTACT_DEPTH_M``,
3 mm) moved by +-0.05 ... 0.25 mm, far below what IK or a shoe can resolve, and reports the mean
and standard deviation of each figure over the runs. ``--timeconst`` / ``--depth-mm`` score another
foot contact (MuJoCo ``solref`` time constant of ``CONTROLLER_SIM_OPTIONS``, s; the calibration
depth, mm) the same way, so that two contacts are compared on their means, not on one run each.

    .venv/bin/python bench/controller_twin_spread.py                       # hamner_run, 10 runs
    .venv/bin/python bench/controller_twin_spread.py --timeconst 0.06 --depth-mm 4.3
    .venv/bin/python bench/controller_twin_spread.py --trial subject01_walk

Writes ``bench/results/controller_twin_spread_<trial>[_<timeconst>_<depth>].json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller_twin import REPO, trials  # noqa: E402

FIGURES = ("joint_angle_mae_deg", "grf_vertical_rmse_pct_bw", "grf_vertical_r",
           "grf_vertical_rmse_pct_bw_lowpass", "moment_sagittal_rmse_nm_per_kg",
           "residual_force_mean_pct_bw", "gait_event_error_ms")
JITTER_MM = (-0.25, -0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trial", default="hamner_run", help="a trial of bench_controller_twin")
    ap.add_argument("--timeconst", type=float, default=None, help="foot contact time constant (s)")
    ap.add_argument("--depth-mm", type=float, default=None, help="sole calibration depth (mm)")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "controller_twin_spread")
    args = ap.parse_args()

    import kintwin.twin.controlled as controlled
    from kintwin.models.subject import SubjectSpec
    from kintwin.twin.analyze import TrialJob, analyze_trial

    if args.timeconst is not None:
        controlled.CONTROLLER_SIM_OPTIONS = dataclasses.replace(
            controlled.CONTROLLER_SIM_OPTIONS, contact_timeconst_s=args.timeconst)
    depth_m = controlled.CONTACT_DEPTH_M if args.depth_mm is None else args.depth_mm / 1000
    spec = trials(args.out)[args.trial]
    runs = []
    for jitter in JITTER_MM:
        controlled.CONTACT_DEPTH_M = depth_m + jitter / 1000
        job = TrialJob(trial=spec["trial"], out_dir=args.out / args.trial, controller="qp",
                       subject=SubjectSpec(spec["height"], spec["mass"]), grf=spec.get("grf"),
                       loads=spec.get("loads"), reference_id=spec.get("reference_id"))
        m = analyze_trial(job, progress=False)
        runs.append({"depth_mm": controlled.CONTACT_DEPTH_M * 1000, "completed": m["completed"],
                     **{k: m.get(k) for k in FIGURES}})
        print(json.dumps(runs[-1], default=float), flush=True)
    summary = {}
    for k in FIGURES:
        v = np.array([r[k] for r in runs if r[k] is not None], float)
        summary[k] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)), "min": float(v.min()),
                      "max": float(v.max())} if len(v) > 1 else None
    print(json.dumps(summary, indent=1))
    tag = "" if args.timeconst is None and args.depth_mm is None else \
        f"_{controlled.CONTROLLER_SIM_OPTIONS.contact_timeconst_s:g}_{depth_m * 1000:g}"
    out = REPO / "bench" / "results" / f"controller_twin_spread_{args.trial}{tag}.json"
    out.write_text(json.dumps({
        "trial": args.trial, "contact_timeconst_s": controlled.CONTROLLER_SIM_OPTIONS.contact_timeconst_s,
        "depth_mm": depth_m * 1000, "jitter_mm": JITTER_MM, "completed": sum(r["completed"] for r in runs),
        "summary": summary, "runs": runs}, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
