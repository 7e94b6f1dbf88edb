"""The twin for users: speed and accuracy of ``kintwin analyze`` with a PPO policy of ``kintwin
train`` (the figures recorded in BENCHMARKS.md, issue 5, are of the first wave's shipped policy,
``src/kintwin/data/policy.npz`` in git history; the shipped policies are now distilled ones,
scored by ``bench/distill_shipped_policy.py --score-only``).

Trials (``../shared/data``), each against its force plates and OpenSim reference torques:

* subject01 walk: gait2354 IK (0.4-1.6 s), force plates ``subject01_walk1_grf.mot`` (+ its
  ExternalLoads), reference ``gait2354/ID_inverse_dynamics.sto``; 1.803 m, 72.6 kg;
* hamner_run: IK 0.7-1.7 s, force plates ``subject02_grf_HiFreq`` (+ External_Loads.xml),
  reference ``RRA/rra_run_1_Actuation_force.sto``; 1.83 m, 65.9 kg;
* the generated sample walk (no references; the demo's trial).

For each, ``analyze_trial`` without fine-tuning and with ``--finetune-steps`` (default 200k),
recording the metrics, and the speed of the plain run: simulated seconds per wall-clock second
of the twin rollout (policy + physics, one trial per process as ``kintwin analyze`` runs them),
and of the whole analyze call (model build, feed-forward, rollout, metrics, report).

    .venv/bin/python bench/bench_twin.py --policy CKPT [--finetune-steps 200000]

Writes ``bench/results/twin.json``; outputs under ``runs/bench_twin/``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from paths import DATA, REPO  # noqa: E402
KEYS = ("completed", "completed_fraction", "joint_angle_mae_deg", "joint_angle_rmse_deg",
        "pelvis_position_error_cm", "residual_force_mean_pct_bw", "grf_vertical_rmse_pct_bw",
        "grf_vertical_r", "moment_rmse_nm_per_kg", "moment_r", "gait_event_error_ms")


def trials(out: Path) -> dict:
    from kintwin.motion.kinematics_io import read_motion, write_motion
    from kintwin.motion.sample import sample_walk

    s01, run = DATA / "osim_subject01_walk", DATA / "hamner_run"
    out.mkdir(parents=True, exist_ok=True)
    run_clip = write_motion(out / "hamner_run_0.7-1.7.mot",
                            read_motion(run / "IK" / "subject02_running_ik.mot").slice_time(0.7, 1.7),
                            convention="legacy")
    walk = sample_walk()
    return {
        "subject01_walk": dict(trial=str(s01 / "gait2354" / "subject01_walk1_ik.mot"),
                               height=1.803, mass=72.6,
                               grf=str(s01 / "experimental" / "subject01_walk1_grf.mot"),
                               loads=str(s01 / "experimental" / "subject01_walk1_grf.xml"),
                               reference_id=str(s01 / "gait2354" / "ID_inverse_dynamics.sto")),
        "hamner_run": dict(trial=str(run_clip), height=1.83, mass=65.9,
                           grf=str(run / "experimental" / "subject02_grf_HiFreq_opensim-core-tests.mot"),
                           loads=str(run / "experimental" / "External_Loads.xml"),
                           reference_id=str(run / "RRA" / "rra_run_1_Actuation_force.sto")),
        "sample_walk": dict(trial=str(write_motion(out / "sample_walk.mot", walk)),
                            height=walk.subject.height_m, mass=walk.subject.mass_kg),
    }


def rollout_speed(policy_path, spec) -> dict:
    """Simulated s per wall s of the twin rollout alone (``run_twin``)."""
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import SimOptions, build_model
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.twin.runner import load_policy, run_twin

    motion = read_motion(spec["trial"])
    model = build_model(default_skeleton(spec["height"], spec["mass"]), SimOptions(foot_sensors=True))
    policy = load_policy(policy_path)
    run_twin(policy, model, motion, (spec["height"], float(model.body_mass.sum())))  # jit warm-up
    t0 = time.perf_counter()
    run = run_twin(policy, model, motion, (spec["height"], float(model.body_mass.sum())))
    wall = time.perf_counter() - t0
    sim = float(run.results.time_s[-1] - motion.time_s[0])
    return {"simulated_s": sim, "wall_s": wall, "realtime_factor": sim / wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", required=True, help="policy checkpoint of `kintwin train`")
    ap.add_argument("--finetune-steps", type=int, default=200_000)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench_twin")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "twin.json")
    args = ap.parse_args()

    from kintwin.models.subject import SubjectSpec
    from kintwin.twin.analyze import TrialJob, analyze_trial

    result = {"policy": args.policy,
              "finetune_steps": args.finetune_steps, "cpus": os.cpu_count(), "trials": {}}
    for name, spec in trials(args.out).items():
        entry = {}
        for ft in (0, args.finetune_steps):
            if ft and "reference_id" not in spec:
                continue
            job = TrialJob(trial=spec["trial"], out_dir=args.out / f"{name}_ft{ft}",
                           subject=SubjectSpec(spec["height"], spec["mass"]),
                           policy=args.policy, finetune_steps=ft, grf=spec.get("grf"),
                           loads=spec.get("loads"), reference_id=spec.get("reference_id"),
                           controller="policy")
            t0 = time.perf_counter()
            m = analyze_trial(job, progress=True)
            entry[f"finetune_{ft}"] = {**{k: m.get(k) for k in KEYS},
                                       "analyze_wall_s": time.perf_counter() - t0}
        entry["speed"] = rollout_speed(args.policy, spec)
        result["trials"][name] = entry
        print(name, json.dumps(entry, indent=1, default=float), flush=True)
    args.results.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
