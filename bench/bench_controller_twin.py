"""The controller twin (``kintwin analyze --controller qp``) against force plates and OpenSim ID.

Force plates and reference moments only SCORE the twin; its inputs are the kinematics, height and
mass. Trials (``../shared/data``):

* subject01 walk: gait2354 IK (0.4-1.6 s), plates ``subject01_walk1_grf.mot``, reference
  ``gait2354/ID_inverse_dynamics.sto``; 1.803 m, 72.6 kg; also the gait2392 IK of the same trial
  (0.5-1.6 s) against ``gait2392/ID_InverseDynamicsOutput.sto``;
* hamner_run: IK over the high-frequency plate window (0.70-1.43 s), plates
  ``subject02_grf_HiFreq``, reference ``RRA/rra_run_1_Actuation_force.sto`` (RRA torques); 1.83 m,
  65.9 kg;
* hamner_run_long: the same IK over 1.5-5.5 s (11 stances, treadmill), scored by the trial's 60 Hz
  plates (``subject02_running_grf.mot``); no reference moments. Two stances are few to judge a
  change to running by: what won 5 %BW on the plate window lost 2-8 %BW here (BENCHMARKS.md);
* the generated sample walk (no references).

For each: every metric of ``metrics.json`` that matters for the issue, raw and with the twin's
outputs and the plates low-passed at 6 Hz (OpenSim's ID cutoff), and the speed: simulated
seconds per wall second of the simulation loop (one core) and of the whole ``analyze`` call.

    .venv/bin/python bench/bench_controller_twin.py     # bench/results/controller_twin.json

Outputs (reports, exports) under ``runs/bench_controller_twin/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_twin import DATA, REPO, trials as twin_trials  # noqa: E402

KEYS = ("completed", "joint_angle_mae_deg", "pelvis_position_error_cm", "residual_force_mean_pct_bw",
        "residual_moment_mean_pct_bw_height", "grf_vertical_rmse_pct_bw", "grf_vertical_r",
        "grf_total_vertical_rmse_pct_bw", "grf_ap_rmse_pct_bw", "grf_vertical_rmse_pct_bw_lowpass",
        "grf_vertical_r_lowpass", "moment_sagittal_rmse_nm_per_kg",
        "moment_sagittal_rmse_nm_per_kg_lowpass", "moment_rmse_nm_per_kg",
        "moment_rmse_nm_per_kg_lowpass", "gait_event_error_ms", "gait_events_matched",
        "gait_events_missed", "gait_event_matching", "com_vertical_hf_pct_bw",
        "com_vertical_hf_reference_pct_bw", "stance_clearance", "kinematic_event_error_ms")


def trials(folder: Path) -> dict:
    """``bench_twin``'s trials, hamner_run cut to the high-frequency plate window and to 4 s with
    the 60 Hz plates, and the gait2392 IK of subject01."""
    from kintwin.motion.kinematics_io import read_motion, write_motion

    s01, run = DATA / "osim_subject01_walk", DATA / "hamner_run"
    out = twin_trials(folder)
    run_ik = read_motion(run / "IK" / "subject02_running_ik.mot")
    out["hamner_run"]["trial"] = str(write_motion(folder / "hamner_run_0.70-1.43.mot",
                                                  run_ik.slice_time(0.70, 1.43), convention="legacy"))
    out["hamner_run_long"] = {
        **out["hamner_run"], "reference_id": None,
        "grf": str(run / "experimental" / "subject02_running_grf.mot"),
        "trial": str(write_motion(folder / "hamner_run_1.5-5.5.mot", run_ik.slice_time(1.5, 5.5),
                                  convention="legacy"))}
    gait2392 = write_motion(folder / "subject01_gait2392_0.5-1.6.mot",
                            read_motion(s01 / "gait2392" / "subject01_walk1_ik.mot").slice_time(0.5, 1.6),
                            convention="legacy")
    out["subject01_walk_gait2392"] = {
        **out["subject01_walk"], "trial": str(gait2392),
        "reference_id": str(s01 / "gait2392" / "ID_InverseDynamicsOutput.sto")}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench_controller_twin")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "controller_twin.json")
    args = ap.parse_args()

    from kintwin.control.wholebody import WholeBodyConfig
    from kintwin.models.subject import SubjectSpec
    from kintwin.twin.analyze import TrialJob, analyze_trial

    result = {"config": vars(WholeBodyConfig()), "cpus": os.cpu_count(), "trials": {}}
    for name, spec in trials(args.out).items():
        job = TrialJob(trial=spec["trial"], out_dir=args.out / name,
                       subject=SubjectSpec(spec["height"], spec["mass"]),
                       grf=spec.get("grf"), loads=spec.get("loads"),
                       reference_id=spec.get("reference_id"), controller="qp")
        t0 = time.perf_counter()
        m = analyze_trial(job, progress=False)
        wall = time.perf_counter() - t0
        info = json.loads((args.out / name / "metrics.json").read_text())["info"]
        entry = {k: m.get(k) for k in KEYS}
        entry.update({"analyze_wall_s": wall, "simulate_s": info["simulate_s"],
                      "prepare_s": info["prepare_s"], "realtime_factor": info["realtime_factor"],
                      "stance_penetration_mm": info["stance_penetration_mm"],
                      "stance_clearance_before_calibration": info["stance_clearance_before"]})
        result["trials"][name] = entry
        print(name, json.dumps({k: v for k, v in entry.items() if not isinstance(v, dict)},
                               default=float), flush=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
