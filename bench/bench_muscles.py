"""Muscle model + static optimization on subject01 walking vs OpenSim (gait2392 SO, gait2354 CMC).

Needs ``../shared/data`` (never copied into the repo). Optional: an interpreter with the
``opensim`` PyPI package (``pip install opensim``; not a kintwin dependency) named by
``KINTWIN_OPENSIM_PYTHON`` (or ``opensim`` importable here) for the moment-arm oracle; without it
the reference moment arms come from the ``.osim`` path points evaluated by
``kintwin.models.osim_muscles`` (gait2392 has no wrap objects; lengths agree with OpenSim's to
1e-15 m, moment arms to within 0.3 mm at the poses below, ``oracle_vs_path_points_max_m``).

What is measured (written to ``bench/results/muscles.json``):

1. Activations vs OpenSim static optimization (``gait2392/SO_subject01_StaticOptimization_activation``,
   same gait2392 muscles, 0.5-2.0 s) and computed muscle control (``gait2354/CMC_..._states``,
   54-muscle model, 0.83-1.19 s only) for the shared muscles: Pearson r over the overlapping
   frames. Our inputs: the gait2392 IK kinematics and OpenSim's own inverse dynamics torques
   (``gait2392/ID_InverseDynamicsOutput.sto``, legacy knee sign), 6 Hz low-pass, kintwin's
   skeleton with subject01's segment scales (from the .osim geometry scale factors). Variants:
   passive fibre forces ignored (default, as OpenSim's SO) and included; the skeleton scaled by
   height only (generic proportions); torques from kintwin's own inverse dynamics (measured GRF,
   de Leva segment masses) instead of OpenSim's.
2. Moment arms of the right hip, knee and ankle muscles over the range of motion (hip flexion
   -20..60 deg, knee 0..90, ankle -30..25, 9 poses each) against the OpenSim model: pass when within
   1 cm or 20 %.
3. Speed: static-optimization frames per second (the per-frame loop: MuJoCo state, gains, QP),
   and end-to-end (states + loop).

    .venv/bin/python bench/bench_muscles.py

``--shipped`` instead measures the SHIPPED muscle model (generic gait2392,
``kintwin.models.muscles.SHIPPED_MUSCLES``, the default when no muscle file is given): build time
and the moment arms of item 2 on (a) the generic-size skeleton (1.80 m) against the shipped file
itself, (b) the built-in skeleton of subject01's height and mass and (c) the built-in skeleton with
subject01's segment scales, both against subject01's scaled gait2392 .osim. Writes
``bench/results/muscles_shipped.json`` (a few seconds):

    .venv/bin/python bench/bench_muscles.py --shipped
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mujoco
import numpy as np

from kintwin.dynamics.static_optimization import SOOptions, read_torques, static_optimization
from kintwin.models.anthropometry import default_skeleton
from kintwin.models.muscles import SHIPPED_MUSCLES, build_muscle_model
from kintwin.models.osim import osim_segment_scales
from kintwin.models.osim_muscles import read_osim_muscles
from kintwin.motion.kinematics_io import read_motion
from kintwin.motion.storage import read_table

from paths import DATA, REPO  # noqa: E402
W = DATA / "osim_subject01_walk"
OSIM = W / "gait2392" / "subject01_simbody.osim"
SHARED = ["soleus", "med_gas", "lat_gas", "tib_ant", "vas_int", "vas_lat", "vas_med", "rect_fem",
          "bifemlh", "bifemsh", "semimem", "semiten", "glut_max1", "glut_max2", "glut_max3",
          "glut_med1", "glut_med2", "glut_med3", "iliacus", "psoas"]
CMC_SHARED = ["soleus", "med_gas", "tib_ant", "vas_int", "rect_fem", "bifemlh", "bifemsh",
              "glut_max1", "glut_max2", "glut_max3", "glut_med1", "glut_med2", "glut_med3",
              "iliacus", "psoas"]
ROM_DEG = {"hip_flexion_r": (-20, 60), "knee_angle_r": (0, 90), "ankle_angle_r": (-30, 25)}

ORACLE = r'''
import json, sys, opensim as osim
req = json.load(open(sys.argv[1]))
m = osim.Model(req["model"]); s = m.initSystem(); cs = m.getCoordinateSet()
out = []
for pose in req["poses"]:
    for k in range(cs.getSize()):
        c = cs.get(k); c.setValue(s, pose.get(c.getName(), 0.0), False)
    m.realizePosition(s)
    out.append({mu: {c: m.getMuscles().get(mu).computeMomentArm(s, cs.get(c)) for c in coords}
                for mu, coords in req["muscles"].items()})
json.dump(out, open(sys.argv[2], "w"))
'''


def _r(a, b):
    if np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def build():
    om = read_osim_muscles(OSIM)
    skel = default_skeleton(1.803, 72.6, segment_scales=osim_segment_scales(OSIM))
    t0 = time.perf_counter()
    model, info = build_muscle_model(skel, om)
    return om, model, info, time.perf_counter() - t0


def kintwin_id_torques(skeleton, mot):
    """Joint torques from kintwin's own inverse dynamics (measured GRF) on kintwin's skeleton."""
    from kintwin.dynamics.inverse_dynamics import inverse_dynamics
    from kintwin.dynamics.static_optimization import TorqueTable
    from kintwin.models.build import build_model
    from kintwin.motion.grf import read_grf

    grf = read_grf(W / "experimental" / "subject01_walk1_grf.mot",
                   loads_xml=W / "experimental" / "subject01_walk1_grf.xml")
    m = mot.slice_time(0.4, min(2.4, grf.time_s[-1]))
    res = inverse_dynamics(m, build_model(skeleton), grf, mass_kg=72.6, height_m=1.803)
    return TorqueTable(res.time_s, list(res.coordinate_names), np.asarray(res.torque_nm),
                       "kintwin inverse dynamics"), m


def activations(model, variants=None):
    mot = read_motion(W / "gait2392" / "subject01_walk1_ik.mot")
    tq = read_torques(W / "gait2392" / "ID_InverseDynamicsOutput.sto",
                      kinematics_convention=mot.source_convention)
    so = read_table(W / "gait2392" / "SO_subject01_StaticOptimization_activation.sto")
    cmc = read_table(W / "gait2354" / "CMC_subject01_walk1_states.sto")
    static_optimization(model, mot.slice_time(0.5, 0.6), tq)  # warm-up (imports, caches)
    out = {}
    variants = variants or [("passive_ignored", model, mot, tq, False),
                            ("passive_included", model, mot, tq, True)]
    for label, model, mot, tq, passive in variants:
        t0 = time.perf_counter()
        res = static_optimization(model, mot, tq, SOOptions(passive=passive))
        total = time.perf_counter() - t0
        met = res.metrics()
        # vs SO on the overlapping frames
        keep = (res.time_s >= so.time_s[0]) & (res.time_s <= so.time_s[-1])
        per_so = {}
        for base in SHARED:
            for side in "rl":
                n = f"{base}_{side}"
                a = res.activation[keep, res.muscle_names.index(n)]
                per_so[n] = _r(a, np.interp(res.time_s[keep], so.time_s, so.column(n)))
        # vs CMC (gait2354) on a 100 Hz grid inside its short window
        tg = np.arange(max(cmc.time_s[0], res.time_s[0]), min(cmc.time_s[-1], res.time_s[-1]), 0.01)
        per_cmc = {}
        for base in CMC_SHARED:
            for side in "rl":
                n = f"{base}_{side}"
                lab = f"{n}.activation"
                if lab not in cmc.labels:
                    continue
                a = np.interp(tg, res.time_s, res.activation[:, res.muscle_names.index(n)])
                per_cmc[n] = _r(a, np.interp(tg, cmc.time_s, cmc.column(lab)))
        vals_so = np.array([v for v in per_so.values() if np.isfinite(v)])
        vals_cmc = np.array([v for v in per_cmc.values() if np.isfinite(v)])
        out[label] = {
            "frames": met["frames"], "time_range_s": met["time_range_s"],
            "so_median_r": float(np.median(vals_so)), "so_frac_r_ge_0_7": float(np.mean(vals_so >= 0.7)),
            "so_r": per_so,
            "cmc_window_s": [float(tg[0]), float(tg[-1])],
            "cmc_median_r": float(np.median(vals_cmc)), "cmc_r": per_cmc,
            "reserve_pct_of_torque": met["reserve_pct_of_torque"],
            "reserve_max_abs_nm": met["reserve_max_abs_nm"],
            "reserves": {c: {k: round(v, 3) for k, v in d.items()} for c, d in met["reserves"].items()},
            "solver_failures": met["solver_failures"],
            "so_loop_frames_per_s": met["frames_per_s"],
            "end_to_end_frames_per_s": met["frames"] / total,
        }
    return out


def _opensim_python() -> str | None:
    exe = os.environ.get("KINTWIN_OPENSIM_PYTHON")
    if exe and Path(exe).exists():
        return exe
    try:
        import opensim  # noqa: F401

        return sys.executable
    except ImportError:
        return None


def moment_arms(om, model, info, osim=OSIM):
    """Moment arms of ``model`` against the .osim file ``osim`` (read as ``om``), see item 2."""
    poses = []  # (coordinate, canonical angle)
    for coord, (lo, hi) in ROM_DEG.items():
        poses += [(coord, float(a)) for a in np.deg2rad(np.linspace(lo, hi, 9))]
    muscles = {mp.name: [c for c in ROM_DEG if c in mp.coordinates] for mp in info.muscles
               if mp.name.endswith("_r") and any(c in mp.coordinates for c in ROM_DEG)}
    file_q = [om.canonical_to_file({c: a}) for c, a in poses]
    # reference from the .osim path points (exact kinematics, no wrapping in gait2392)
    ref_file = [{m: {c: om.moment_arm(m, c, q) for c in cs} for m, cs in muscles.items()} for q in file_q]
    exe = _opensim_python()
    ref, source, oracle_vs_file = ref_file, "osim path points (kintwin.models.osim_muscles)", None
    if exe:
        with tempfile.TemporaryDirectory() as tmp:
            req, res, script = (Path(tmp) / n for n in ("req.json", "res.json", "oracle.py"))
            script.write_text(ORACLE)
            req.write_text(json.dumps({"model": str(osim), "poses": file_q, "muscles": muscles}))
            p = subprocess.run([exe, str(script), str(req), str(res)], capture_output=True, text=True)
            if p.returncode == 0:
                ref = json.loads(res.read_text())
                source = "OpenSim (opensim PyPI package, computeMomentArm)"
                oracle_vs_file = max(abs(ref[k][m][c] - ref_file[k][m][c])
                                     for k in range(len(poses)) for m in muscles for c in muscles[m])
    d = mujoco.MjData(model)
    J = np.zeros((model.nu, model.nv))
    rows, per = [], {}
    for k, (coord, ang) in enumerate(poses):
        d.qpos[:] = model.qpos0
        d.qpos[model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, coord)]] = ang
        mujoco.mj_forward(model, d)
        mujoco.mju_sparse2dense(J, d.actuator_moment, d.moment_rownnz, d.moment_rowadr, d.moment_colind)
        dof = model.jnt_dofadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, coord)]
        sign = -1.0 if coord in om.legacy_knees else 1.0
        for m, cs in muscles.items():
            if coord not in cs:
                continue
            a = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, m)
            mine, theirs = -J[a, dof], sign * ref[k][m][coord]
            err = abs(mine - theirs)
            ok = err <= 0.01 or err <= 0.2 * abs(theirs)
            rows.append(ok)
            e = per.setdefault(f"{m} @ {coord}", {"max_err_cm": 0.0, "all_ok": True,
                                                 "ref_cm": [], "mujoco_cm": []})
            e["max_err_cm"] = max(e["max_err_cm"], 100 * err)
            e["all_ok"] &= bool(ok)
            e["ref_cm"].append(round(100 * theirs, 2))
            e["mujoco_cm"].append(round(100 * mine, 2))
    pairs_ok = [v["all_ok"] for v in per.values()]
    return {"reference": source, "oracle_vs_path_points_max_m": oracle_vs_file,
            "rom_deg": ROM_DEG, "samples": len(rows), "samples_within_1cm_or_20pct": float(np.mean(rows)),
            "pairs": len(per), "pairs_all_within": float(np.mean(pairs_ok)),
            "max_error_cm": float(max(v["max_err_cm"] for v in per.values())),
            "failing_pairs": {k: v for k, v in per.items() if not v["all_ok"]},
            "per_pair_max_err_cm": {k: round(v["max_err_cm"], 2) for k, v in per.items()}}


def shipped():
    """The shipped generic gait2392 scaled to three skeletons; moment arms vs the .osim files."""
    gen, subj = read_osim_muscles(SHIPPED_MUSCLES), read_osim_muscles(OSIM)
    cases = [("generic_1.80m_skeleton_vs_shipped_file", default_skeleton(1.80, 75.0), gen,
              SHIPPED_MUSCLES),
             ("subject01_height_mass_skeleton_vs_subject01_osim", default_skeleton(1.803, 72.6),
              subj, OSIM),
             ("subject01_segment_scaled_skeleton_vs_subject01_osim",
              default_skeleton(1.803, 72.6, segment_scales=osim_segment_scales(OSIM)), subj, OSIM)]
    res = {"muscle_file": str(SHIPPED_MUSCLES.relative_to(REPO)), "variants": {}}
    for label, skel, ref, path in cases:
        t0 = time.perf_counter()
        model, info = build_muscle_model(skel, gen)
        build_s = time.perf_counter() - t0
        ma = moment_arms(ref, model, info, path)
        res["variants"][label] = {"muscles": len(info.muscles), "skipped": info.skipped,
                                  "build_s": build_s, "approximations": info.approximations,
                                  "moment_arms": ma}
        print(f"{label}: {len(info.muscles)} muscles, built in {build_s:.2f} s; moment arms "
              f"({ma['reference']}): {100 * ma['samples_within_1cm_or_20pct']:.1f} % of "
              f"{ma['samples']} samples within 1 cm or 20 %, max error {ma['max_error_cm']:.2f} cm; "
              f"failing: {sorted(ma['failing_pairs'])}")
    out = REPO / "bench" / "results" / "muscles_shipped.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=float) + "\n")
    print(f"wrote {out}")
    return 0


def main():
    if not OSIM.is_file():
        print(f"skipping: {OSIM} not found (../shared/data absent)")
        return 0
    if "--shipped" in sys.argv[1:]:
        return shipped()
    om, model, info, build_s = build()
    mot = read_motion(W / "gait2392" / "subject01_walk1_ik.mot")
    tq = read_torques(W / "gait2392" / "ID_InverseDynamicsOutput.sto",
                      kinematics_convention=mot.source_convention)
    plain, _ = build_muscle_model(default_skeleton(1.803, 72.6), om)
    kid_tq, kid_mot = kintwin_id_torques(default_skeleton(1.803, 72.6,
                                                          segment_scales=osim_segment_scales(OSIM)), mot)
    act = activations(model, [
        ("passive_ignored", model, mot, tq, False),
        ("passive_included", model, mot, tq, True),
        ("height_scaled_skeleton_passive_ignored", plain, mot, tq, False),
        ("kintwin_inverse_dynamics_passive_ignored", model, kid_mot, kid_tq, False)])
    ma = moment_arms(om, model, info)
    res = {
        "model": {"osim": str(OSIM.relative_to(DATA)), "muscles": len(info.muscles),
                  "build_s": build_s, "approximations": info.approximations,
                  "muscle_driven": info.muscle_coordinates, "torque_driven": info.torque_coordinates},
        "activations": act, "moment_arms": ma,
        "targets": {"median_r_so": ">= 0.7", "moment_arm": "within 1 cm or 20 %",
                    "frames_per_s": ">= 100"},
    }
    out = REPO / "bench" / "results" / "muscles.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=float) + "\n")
    print(f"model: {len(info.muscles)} muscles, built in {build_s:.2f} s")
    for k, v in act.items():
        print(f"{k}: SO median r {v['so_median_r']:.3f} ({100 * v['so_frac_r_ge_0_7']:.0f} % >= 0.7), "
              f"CMC median r {v['cmc_median_r']:.3f}, reserves {v['reserve_pct_of_torque']:.2f} % of "
              f"torque (max {v['reserve_max_abs_nm']:.1f} N*m), {v['so_loop_frames_per_s']:.0f} frames/s "
              f"(end to end {v['end_to_end_frames_per_s']:.0f})")
    print(f"moment arms ({ma['reference']}): {100 * ma['samples_within_1cm_or_20pct']:.1f} % of "
          f"{ma['samples']} samples within 1 cm or 20 %, {100 * ma['pairs_all_within']:.0f} % of "
          f"{ma['pairs']} muscle-coordinate pairs everywhere; max error {ma['max_error_cm']:.2f} cm; "
          f"failing: {sorted(ma['failing_pairs'])}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
