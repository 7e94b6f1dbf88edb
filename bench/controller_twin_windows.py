"""The controller twin on trials cut short: windows of one or two steps, scored by the plates.

Users crop trials to the force-plate window or to one step; then one foot may swing through the
whole window. This runs ``kintwin analyze --controller qp`` on windows of the shared trials
(``bench_controller_twin``'s subject01 walk, gait2354 IK, 1.803 m / 72.6 kg, and hamner_run,
1.83 m / 65.9 kg; their plates and OpenSim ID / RRA only score, reference convention "legacy" as
detected on the whole trials) and of the generated sample walk (no plates: the peak vertical GRF
of a foot that swings through the whole window, which should be zero). Per window: completed,
joint MAE, per-foot vertical GRF RMSE and r, sagittal moments, mean residual, gait event error
and which foot, if any, took the other foot's sole calibration (``sim/floor.calibrate_soles``).

    .venv/bin/python bench/controller_twin_windows.py   # bench/results/controller_twin_windows.json

Outputs under ``runs/controller_twin_windows/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller_twin import REPO, trials  # noqa: E402

WINDOWS = {"subject01_walk": [(0.4, 0.8), (0.6, 1.0), (0.8, 1.2), (0.9, 1.3), (1.0, 1.4), (1.2, 1.6)],
           "hamner_run": [(0.70, 1.00), (0.85, 1.15), (1.00, 1.30), (1.13, 1.43)],
           "sample_walk": [(0.2, 0.5), (1.3, 1.62), (0.25, 0.7)]}
FIGURES = ("completed", "joint_angle_mae_deg", "grf_vertical_rmse_pct_bw", "grf_vertical_r",
           "moment_sagittal_rmse_nm_per_kg", "residual_force_mean_pct_bw", "gait_event_error_ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "controller_twin_windows")
    ap.add_argument("--results", type=Path,
                    default=REPO / "bench" / "results" / "controller_twin_windows.json")
    args = ap.parse_args()

    from kintwin.models.subject import SubjectSpec
    from kintwin.motion.kinematics_io import read_motion, write_motion
    from kintwin.motion.storage import read_table
    from kintwin.twin.analyze import TrialJob, analyze_trial

    specs = trials(args.out)
    results = {}
    for name, windows in WINDOWS.items():
        spec = specs[name]
        motion = read_motion(spec["trial"])
        for a, b in windows:
            key = f"{name}_{a:.2f}-{b:.2f}"
            path = write_motion(args.out / f"{key}.mot", motion.slice_time(a, b), convention="legacy")
            job = TrialJob(trial=str(path), out_dir=args.out / key, controller="qp",
                           subject=SubjectSpec(spec["height"], spec["mass"]), grf=spec.get("grf"),
                           loads=spec.get("loads"), reference_id=spec.get("reference_id"),
                           reference_convention="legacy")
            m = analyze_trial(job, progress=False)
            info = json.loads((args.out / key / "metrics.json").read_text())["info"]
            grf = read_table(args.out / key / "grf.mot")
            weight_n = spec["mass"] * 9.81
            entry = {k: m.get(k) for k in FIGURES}
            entry["from_other_foot"] = info.get("sole_calibration_from_other_foot")  # None before 2026-12-06
            entry["peak_vertical_grf_pct_bw"] = {
                s: round(float(grf.column(c).max()) / weight_n * 100, 1)
                for s, c in (("r", "ground_force_vy"), ("l", "1_ground_force_vy"))}
            results[key] = entry
            print(key, json.dumps(entry, default=float), flush=True)
    plated = [v for k, v in results.items() if not k.startswith("sample")]
    summary = {f: float(np.median([v[f] for v in plated if v[f] is not None]))
               for f in FIGURES[1:] if any(v[f] is not None for v in plated)}
    summary["completed"] = sum(bool(v["completed"]) for v in plated)
    summary["windows"] = len(plated)
    print("median over the plated windows", json.dumps(summary, default=float))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"windows": results, "median_plated": summary}, indent=2,
                                       default=float) + "\n")


if __name__ == "__main__":
    main()
