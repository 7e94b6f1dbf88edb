"""The muscle-driven twin (``kintwin analyze --muscles``) on subject01 walking (issue 18).

Inputs: the gait2392 IK of subject01 (0.5-1.6 s), height 1.803 m, mass 72.6 kg, and the muscles
of gait2392 (``--muscles-osim``: subject01's scaled gait2392, default; ``--shipped``: the generic
gait2392 muscles kintwin ships, scaled with the built-in skeleton). Force plates, OpenSim ID,
OpenSim static optimization (SO, 92 muscles, 0.5-2.0 s) and CMC (gait2354, 0.83-1.19 s) only
SCORE the twin. Figures: completion, joint MAE, pelvis residual, per-foot vertical GRF, sagittal
moments, reserve use (% of the joint moment) at hip, knee and ankle, activations vs SO and CMC
(per-muscle Pearson r on the 18 major muscles, ``MAJOR_18``), and speed: simulated s per wall s of the simulation loop (one
process) and the physics step rate of the muscle model against the torque model (one step from each of
the twin's states, zero velocity and controls; the torque model as the torque twin builds it for
the same trial, soles calibrated like the muscle model's, so both have the same foot contacts in
those states; timed in turn, ``bench_tendon_cost.paired_step_us``). Until 2026-12-06 the torque
model was the uncalibrated built-in one, whose feet touched the floor in none of those states
(0 contacts against 2, constraint stage 7.9 against 16.3 us), which understated the ratio.

    .venv/bin/python bench/bench_muscle_twin.py [--shipped]   # bench/results/muscle_twin*.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tendon_cost import paired_step_us  # noqa: E402

from paths import DATA as SHARED_DATA, REPO  # noqa: E402

DATA = SHARED_DATA / "osim_subject01_walk"
SO = DATA / "gait2392" / "SO_subject01_StaticOptimization_activation.sto"  #: OpenSim SO activations
#: The 18 major muscles of the issue, 9 per side (one gait2392 muscle per group: gastrocnemius
#: medial head, vastus lateralis, the middle bundles of gluteus maximus and medius, the long head
#: of biceps femoris for the hamstrings).
MAJOR_18 = ("soleus", "med_gas", "tib_ant", "vas_lat", "rect_fem", "glut_max2", "glut_med2",
            "bifemlh", "iliacus")


def correlations(t, act, names, ref_table) -> dict:
    out = {}
    for base in MAJOR_18:
        for side in ("r", "l"):
            n = f"{base}_{side}"
            if n not in names or n not in ref_table.labels:
                continue
            lo, hi = max(t[0], ref_table.time_s[0]), min(t[-1], ref_table.time_s[-1])
            keep = (t >= lo) & (t <= hi)
            ref = np.interp(t[keep], ref_table.time_s, ref_table.column(n))
            a = act[keep, names.index(n)]
            out[n] = (float(np.corrcoef(a, ref)[0, 1]) if np.std(a) > 1e-9 and np.std(ref) > 1e-9
                      else None)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shipped", action="store_true", help="the shipped generic gait2392 muscles")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench_muscle_twin")
    args = ap.parse_args()

    from kintwin.analysis.metrics import load_reference_moments
    from kintwin.analysis.tracking_metrics import compute_all
    from kintwin.control.wholebody import default_config
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.motion.grf import read_grf
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.motion.storage import read_table
    from kintwin.twin.analyze import measured_only
    from kintwin.twin.controlled import MuscleDrive, prepare, run_controlled_twin

    if args.shipped:
        from kintwin.models.muscles import SHIPPED_MUSCLES

        source = SHIPPED_MUSCLES
    else:
        source = DATA / "gait2392" / "subject01_simbody.osim"
    motion = read_motion(DATA / "gait2392" / "subject01_walk1_ik.mot").slice_time(0.5, 1.6)
    skeleton = default_skeleton(1.803, 72.6)
    t0 = time.perf_counter()
    tw = run_controlled_twin(skeleton, motion, muscles=MuscleDrive(source))
    wall = time.perf_counter() - t0
    grf = read_grf(DATA / "experimental" / "subject01_walk1_grf.mot",
                   loads_xml=DATA / "experimental" / "subject01_walk1_grf.xml")
    t_id, mom, _ = load_reference_moments(str(DATA / "gait2392" / "ID_InverseDynamicsOutput.sto"),
                                          "legacy", None)
    met = compute_all(tw.results, measured_only(tw.reference, motion), reference_grf=grf,
                      reference_moments=(t_id, mom), model=tw.model, terminated_at_s=tw.terminated_at_s)
    mus = tw.results.muscles
    so = read_table(SO)
    cmc = read_table(DATA / "gait2354" / "CMC_subject01_walk1_states.sto")
    cmc.labels = [lab[:-len(".activation")] if lab.endswith(".activation") else lab
                  for lab in cmc.labels]
    r_so = correlations(tw.results.time_s, mus.activation, mus.names, so)
    r_cmc = correlations(tw.results.time_s, mus.activation, mus.names, cmc)
    torque_model = prepare(skeleton, motion, default_config())[0]
    muscle_model = prepare(skeleton, motion, default_config(True), muscles=MuscleDrive(source))[0]
    states = tw.results.kinematics.to_qpos(tw.model, warn=False)
    paired = paired_step_us({"torque": torque_model, "muscle": muscle_model}, states)

    def mean_contacts(model):
        d = mujoco.MjData(model)
        n = []
        for q in states:
            d.qpos[:], d.qvel[:] = q, 0.0
            mujoco.mj_forward(model, d)
            n.append(d.ncon)
        return float(np.mean(n))

    rates = {"muscle_model_steps_per_s": 1e6 / paired["muscle"]["median_us"],
             "torque_model_steps_per_s": 1e6 / paired["torque"]["median_us"],
             "ratio": paired["muscle"]["ratio_to_first"],
             "mean_contacts": {"torque": mean_contacts(torque_model), "muscle": mean_contacts(muscle_model)}}
    keys = ("completed", "joint_angle_mae_deg", "residual_force_mean_pct_bw",
            "grf_vertical_rmse_pct_bw", "grf_vertical_r", "grf_vertical_rmse_pct_bw_lowpass",
            "moment_sagittal_rmse_nm_per_kg", "moment_sagittal_rmse_nm_per_kg_lowpass",
            "gait_event_error_ms")
    vals = lambda d: [v for v in d.values() if v is not None]
    result = {
        "muscle_source": str(source), "config": vars(default_config(muscles=True)),
        "metrics": {k: met.get(k) for k in keys} | {"completed": tw.completed},
        "muscles": met["muscles"],
        "activation_r_vs_so": r_so, "activation_r_vs_so_median": float(np.median(vals(r_so))),
        "activation_r_vs_cmc": r_cmc,
        "activation_r_vs_cmc_median": float(np.median(vals(r_cmc))) if vals(r_cmc) else None,
        "cmc_window_s": [float(cmc.time_s[0]), float(cmc.time_s[-1])],
        "realtime_factor_simulation": tw.info["realtime_factor"],
        "wall_s_total": wall, "prepare_s": tw.info["prepare_s"], "step_rates": rates,
        "qp_failures": tw.info["qp_failures"],
    }
    name = "muscle_twin_shipped.json" if args.shipped else "muscle_twin.json"
    out = REPO / "bench" / "results" / name
    out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(json.dumps({k: result[k] for k in ("metrics", "activation_r_vs_so_median",
                                             "activation_r_vs_cmc_median",
                                             "realtime_factor_simulation", "step_rates")},
                     indent=1, default=float))
    print("reserve % (hip/knee/ankle, max):", met["muscles"]["reserve_pct_hip_knee_ankle_max"])
    print("wrote", out)


if __name__ == "__main__":
    main()
