"""Inverse dynamics with force plates on IMPORTED OpenSim models vs OpenSim's own results.

Issue 8 ("bring your own OpenSim model") acceptance: on the imported subject01 gait2354 model, hip,
knee and ankle moments within RMSE <= 0.03 N*m/kg and r >= 0.99 of ``gait2354/ID_inverse_dynamics
.sto``; the same on hamner_run against its RRA torques, with the differences explained.

Models come from ``kintwin.models.osim.load_osim`` (default: EXACT knee, the tibia translations as
coupled dofs; ``exact_knee=False``, the frozen knee, is reported for comparison). Processing as
OpenSim's tools did:

* subject01 (``subject01_Setup_InverseDynamics.xml``): coordinates low-passed at 6 Hz, ground
  reactions NOT filtered (its ExternalLoads file sets no filter), 0.4-1.6 s, GRF at ~600 Hz.
  kintwin's filter is a 4th-order zero-lag Butterworth with cubic-spline derivatives; OpenSim's is
  its IIR filter (after padding) with quintic GCV-spline derivatives.
* hamner_run RRA (``RRA/Setup_RRA.xml``): RRA tracked the IK low-passed at 15 Hz, with the 60 Hz
  GRF file ``subject02_running_grf.mot``, on a model whose torso COM and masses it then adjusted
  (``subject02_RRA_Adjusted.osim``); its torques come from a forward simulation that tracks the
  kinematics with feedback, so they also absorb the kinematic changes RRA made. Reported:
  (1) IK + scaled model, cutoff 15 Hz, 60 Hz GRF (what a user would run); (2) the same with the
  ~600 Hz force plates on 0.70-1.43 s; (3) the FAIR comparison: RRA's own adjusted kinematics
  (unfiltered, 1 kHz) on the RRA-adjusted model with the 60 Hz GRF RRA used.

Diagnostics when the optional ``opensim`` package is importable (``pip install opensim``; not a
kintwin dependency): OpenSim's InverseDynamicsTool re-run here on the very same inputs (setup,
model, IK, GRF) gives "opensim_rerun"; kintwin against it, and the shipped reference against it,
separate kintwin's error from the reference file's own history. "same_states": kintwin's ID on
OpenSim's own filtered states (IIR + GCV) isolates the dynamics (the knee's quartic vs OpenSim's
spline), and "same_states_spline_knee" replaces the quartic by the file's splines to show what is
left. For hamner_run, OpenSim's ID of RRA's kinematics on the adjusted model is compared with the
RRA torques too. A regression of (shipped - rerun) left-knee moment on the left GRF components
explains the left knee.

    .venv/bin/python bench/bench_id_osim.py    # writes bench/results/id_osim.json
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402
from pathlib import Path  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from kintwin.analysis.metrics import SAGITTAL, compute_metrics, read_reference_moments  # noqa: E402
from kintwin.dynamics.inverse_dynamics import (FootLoad, condition_grf, grf_to_loads,  # noqa: E402
                                               hinge_dofs, id_model, inverse_dynamics,
                                               inverse_generalized_forces,
                                               loads_generalized_forces, solve_inverse_dynamics)
from kintwin.models import coupling  # noqa: E402
from kintwin.models.build import build_model  # noqa: E402
from kintwin.models.osim import _OsimFile, import_osim  # noqa: E402
from kintwin.motion import frames  # noqa: E402
from kintwin.motion.grf import read_grf  # noqa: E402
from kintwin.motion.kinematics_io import read_motion  # noqa: E402
from kintwin.motion.motion import Motion  # noqa: E402

from paths import DATA, REPO  # noqa: E402
OUT = REPO / "bench" / "results" / "id_osim.json"
TARGET = {"rmse_nm_per_kg": 0.03, "r": 0.99}


def _r(x, n=4):
    return None if x is None or not np.isfinite(x) else round(float(x), n)


def _score(res, ref, coords=SAGITTAL) -> dict:
    m = compute_metrics(res, reference_moments=ref, coordinates=list(coords))
    out = {c: {"rmse_nm_per_kg": _r(m["moment_rmse_nm_per_kg"][c]), "r": _r(m["moment_r"][c])}
           for c in coords if c in m["moment_rmse_nm_per_kg"]}
    out["pass"] = all(v["rmse_nm_per_kg"] <= TARGET["rmse_nm_per_kg"] and v["r"] >= TARGET["r"]
                      for v in out.values())
    out["residual_force_mean_pct_bw"] = _r(m["residual_force_mean_pct_bw"])
    return out


def _compare(t, a: dict, t_ref, b: dict, mass, coords=SAGITTAL) -> dict:
    """RMSE (N*m/kg) and r of moment dicts a vs b (b interpolated at t)."""
    out = {}
    for c in coords:
        if c in a and c in b:
            keep = (t >= t_ref[0] - 1e-6) & (t <= t_ref[-1] + 1e-6)
            x, y = a[c][keep], np.interp(t[keep], t_ref, b[c])
            out[c] = {"rmse_nm_per_kg": _r(np.sqrt(np.mean((x - y) ** 2)) / mass),
                      "r": _r(np.corrcoef(x, y)[0, 1])}
    return out


def _import(path, exact=True):
    imp = import_osim(path, exact_knee=exact)
    return imp, build_model(imp.skeleton)


def _fits(imp) -> dict:
    return {k: {"master": v["master"], "max_error_mm": _r(1000 * v["max_error"], 3),
                "rms_error_mm": _r(1000 * v["rms_error"], 3),
                "max_slope_error_mm_per_rad": _r(1000 * v["max_slope_error"], 3),
                "rms_slope_error_mm_per_rad": _r(1000 * v["rms_slope_error"], 3)}
            for k, v in imp.couplings.items()}


# --- optional OpenSim diagnostics ---------------------------------------------------------------
def _opensim():
    try:
        import opensim

        return opensim
    except ImportError:
        return None


def _loads_xml(src: Path, datafile: Path, tmp: Path) -> Path:
    """A copy of an ExternalLoads file pointing at ``datafile`` by absolute path."""
    root = ET.parse(src).getroot()
    for e in root.iter():
        if e.tag in ("datafile", "data_source_name"):
            e.text = str(datafile)
    out = tmp / f"loads_{src.stem}_{datafile.stem}.xml"
    ET.ElementTree(root).write(out)
    return out


def opensim_id_tool(osim, model: Path, coords: Path, loads_xml: Path, datafile: Path, t0: float,
                    t1: float, cutoff_hz: float, tmp: Path) -> tuple[np.ndarray, dict]:
    """OpenSim's InverseDynamicsTool (muscles excluded), moments in canonical signs."""
    tool = osim.InverseDynamicsTool()
    tool.setModelFileName(str(model))
    tool.setCoordinatesFileName(str(coords))
    tool.setExternalLoadsFileName(str(_loads_xml(loads_xml, datafile, tmp)))
    tool.setLowpassCutoffFrequency(cutoff_hz)
    tool.setStartTime(t0)
    tool.setEndTime(t1)
    ex = osim.ArrayStr()
    ex.append("Muscles")
    tool.setExcludedForces(ex)
    tool.setResultsDir(str(tmp))
    name = f"id_{model.stem}_{coords.stem}.sto"
    tool.setOutputGenForceFileName(name)
    tool.run()
    # OpenSim may print two rows with the same rounded time (RRA's 1 kHz states): keep the first
    lines = (tmp / name).read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.strip().lower() == "endheader")
    last, rows = -np.inf, []
    for ln in lines[k + 2:]:
        if ln.strip() and float(ln.split()[0]) > last:
            rows.append(ln)
            last = float(ln.split()[0])
    head = [f"nRows={len(rows)}" if ln.startswith("nRows=") else ln for ln in lines[:k + 2]]
    (tmp / name).write_text("\n".join(head + rows) + "\n")
    return read_reference_moments(tmp / name, "legacy")


def opensim_states(osim, mot: Path, model: Path, cutoff_hz: float, window=None):
    """OpenSim ID tool's kinematics processing (rad, pad, lowpassIIR unless cutoff <= 0, 5th-order
    GCV splines): times (in ``window``) and file-convention values, first and second derivatives
    per coordinate."""
    m = osim.Model(str(model))
    m.initSystem()
    st = osim.Storage(str(mot))
    times = osim.ArrayDouble()
    st.getTimeColumn(times)
    t = np.array([times.get(i) for i in range(times.getSize())])
    if window is not None:
        t = t[(t >= window[0] - 1e-9) & (t <= window[1] + 1e-9)]
    if st.isInDegrees():
        m.getSimbodyEngine().convertDegreesToRadians(st)
    if cutoff_hz > 0:
        st.pad(st.getSize() // 2)
        st.lowpassIIR(cutoff_hz)
    spl = osim.GCVSplineSet(5, st)
    labels = [st.getColumnLabels().get(i) for i in range(1, st.getColumnLabels().getSize())]
    v, d1, d2 = {}, {}, {}
    for n in labels:
        f = spl.get(n)
        x = [osim.Vector(1, float(s)) for s in t]
        v[n] = np.array([f.calcValue(a) for a in x])
        d1[n] = np.array([f.calcDerivative(osim.StdVectorInt([0]), a) for a in x])
        d2[n] = np.array([f.calcDerivative(osim.StdVectorInt([0, 0]), a) for a in x])
    return t, v, d1, d2


def opensim_loads(osim, model: Path, loads_xml: Path, datafile: Path, times, tmp: Path) -> list:
    """The ground reactions as OpenSim's ExternalForces apply them (GCV-spline interpolation of the
    file's samples) at ``times``, as MuJoCo-world ``FootLoad``s."""
    m = osim.Model(str(model))
    el = osim.ExternalLoads(str(_loads_xml(loads_xml, datafile, tmp)), True)
    m.addModelComponent(el)
    m.initSystem()
    out = []
    for i in range(el.getSize()):
        ef = el.get(i)
        vec = lambda v: [v.get(k) for k in range(3)]  # noqa: E731
        F = np.array([vec(ef.getForceAtTime(float(t))) for t in times])
        P = np.array([vec(ef.getPointAtTime(float(t))) for t in times])
        M = np.array([vec(ef.getTorqueAtTime(float(t))) for t in times])
        out.append(FootLoad(body=ef.getAppliedToBodyName(), force=frames.osim_to_mujoco_vec(F),
                            point=frames.osim_to_mujoco_vec(P), torque=frames.osim_to_mujoco_vec(M)))
    return out


def same_states_id(model, imp, t, v, d1, d2, grf, spline_knee=False, loads=None):
    """kintwin ID on given (file-convention) states; ``spline_knee``: the coupled knee dofs follow
    the file's splines (values and exact derivatives) instead of the quartics. ``loads``: given
    ``FootLoad``s instead of ``grf`` interpolated linearly at ``t``."""
    names = [n for n in v if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) >= 0
             or n.startswith("pelvis_")]
    sgn = {n: (-1.0 if n in imp.flipped else 1.0) for n in names}
    motion = Motion(t, names, np.column_stack([sgn[n] * v[n] for n in names]))
    qpos = motion.to_qpos(model, warn=False)
    qvel, qacc = np.zeros((len(t), model.nv)), np.zeros((len(t), model.nv))
    for n in names:
        j = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n)
        if j >= 0:
            qvel[:, model.jnt_dofadr[j]], qacc[:, model.jnt_dofadr[j]] = sgn[n] * d1[n], sgn[n] * d2[n]
    lin = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
    rot = ("pelvis_tilt", "pelvis_list", "pelvis_rotation")
    qvel[:, 0:3] = frames.osim_to_mujoco_vec(np.column_stack([d1[n] for n in lin]))
    qacc[:, 0:3] = frames.osim_to_mujoco_vec(np.column_stack([d2[n] for n in lin]))
    ang, rate, acc = (np.column_stack([x[n] for n in rot]) for x in (v, d1, d2))
    qvel[:, 3:6] = frames.body_angular_velocity(ang, rate)
    h = 1e-6
    qacc[:, 3:6] = (frames.body_angular_velocity(ang + h * rate, rate + h * acc)
                    - frames.body_angular_velocity(ang - h * rate, rate - h * acc)) / (2 * h)
    coupling.couple_qvel_qacc(model, qpos, qvel, qacc)
    if loads is None:
        loads = grf_to_loads(condition_grf(grf, None, time_s=t))
    if not spline_knee:
        sol = solve_inverse_dynamics(model, qpos, qvel, qacc, loads)
        return {c: sol.tau[:, sol.names.index(c)] for c in sol.names}
    joints = {j.name: j for j in _OsimFile(imp.path).joints}
    slopes = {}
    for c in coupling.couplings(model):
        info = imp.couplings[c.joint]
        ax = next(a for a in joints[info["joint"]].axes
                  if a.kind == "translation" and np.allclose(a.axis, info["axis"]))
        s = -1.0 if c.master in imp.flipped else 1.0
        x, xd, xdd = qpos[:, c.master_qadr], qvel[:, c.master_dadr], qacc[:, c.master_dadr]
        hh = 1e-4
        f0, fp, fm = (np.array([ax.function(s * (xi + dx)) for xi in x]) for dx in (0.0, hh, -hh))
        s1, s2 = (fp - fm) / (2 * hh), (fp - 2 * f0 + fm) / hh ** 2
        qpos[:, c.qadr] = f0 - info["polycoef"][0]
        qvel[:, c.dadr], qacc[:, c.dadr] = s1 * xd, s2 * xd ** 2 + s1 * xdd
        slopes[c] = s1
    m = id_model(model)
    net = inverse_generalized_forces(m, qpos, qvel, qacc) - loads_generalized_forces(m, qpos, loads)
    for c, s1 in slopes.items():
        net[:, c.master_dadr] += s1 * net[:, c.dadr]
    names, dofs = hinge_dofs(model)
    return {n: net[:, d] for n, d in zip(names, dofs)}


def left_knee_regression(t, shipped: dict, rerun: dict, grf) -> dict:
    """(shipped - rerun) moments regressed on each foot's GRF components + a constant."""
    g = condition_grf(grf, None, time_s=t)
    out = {}
    for side in ("l", "r"):
        F = g.force_n[side]
        X = np.column_stack([F, np.ones(len(t))])
        for c in ("knee_angle", "subtalar_angle", "ankle_angle", "hip_flexion"):
            n = f"{c}_{side}"
            d = shipped[n] - rerun[n]
            coef, *_ = np.linalg.lstsq(X, d, rcond=None)
            out[n] = {"diff_rms_nm": _r(np.sqrt(np.mean(d ** 2)), 3),
                      "lever_m_per_Fx_Fy_Fz": [_r(x, 4) for x in coef[:3]],
                      "residual_rms_nm": _r(np.sqrt(np.mean((d - X @ coef) ** 2)), 3)}
    return out


# --- the two trials ---------------------------------------------------------------------------------
def walk(osim, tmp: Path) -> dict:
    d = DATA / "osim_subject01_walk"
    model_path = d / "gait2354" / "subject01_simbody.osim"
    mass, height = 72.6, 1.803
    motion = read_motion(d / "gait2354" / "subject01_walk1_ik.mot")
    grf_file, loads = d / "experimental" / "subject01_walk1_grf.mot", d / "experimental" / "subject01_walk1_grf.xml"
    grf = read_grf(grf_file, loads_xml=loads)
    ref = read_reference_moments(d / "gait2354" / "ID_inverse_dynamics.sto", "legacy")
    imp, model = _import(model_path)
    _, frozen = _import(model_path, exact=False)
    t0 = time.perf_counter()
    res = inverse_dynamics(motion, model, grf, cutoff_hz=6.0, grf_cutoff_hz=0.0, mass_kg=mass,
                           height_m=height)
    seconds = time.perf_counter() - t0
    res_f = inverse_dynamics(motion, frozen, grf, cutoff_hz=6.0, grf_cutoff_hz=0.0, mass_kg=mass,
                             height_m=height)
    res_g6 = inverse_dynamics(motion, model, grf, cutoff_hz=6.0, mass_kg=mass, height_m=height)
    out = {
        "model": str(model_path.relative_to(DATA)), "frames": motion.n_frames,
        "processing": "coordinates 6 Hz (4th-order zero-lag Butterworth, cubic-spline derivatives), "
                      "GRF unfiltered, as subject01_Setup_InverseDynamics.xml",
        "coupled_dof_fits": _fits(imp),
        "exact_knee_vs_shipped_reference": _score(res, ref),
        "frozen_knee_vs_shipped_reference": _score(res_f, ref),
        "exact_knee_grf_also_6hz_vs_shipped_reference": _score(res_g6, ref),
        "id_seconds": round(seconds, 3),
    }
    if osim is None:
        out["opensim"] = "not installed: re-run diagnostics skipped"
        return out
    rerun = opensim_id_tool(osim, model_path, d / "gait2354" / "subject01_walk1_ik.mot", loads,
                            grf_file, 0.4, 1.6, 6.0, tmp)
    ours = res.torques
    out["opensim_version"] = osim.__version__
    out["exact_knee_vs_opensim_rerun"] = _score(res, rerun)
    out["exact_knee_vs_opensim_rerun_all_coordinates"] = _compare(
        res.time_s, ours, rerun[0], rerun[1], mass, [c for c in res.coordinate_names if c in rerun[1]])
    out["frozen_knee_vs_opensim_rerun"] = _score(res_f, rerun)
    out["shipped_reference_vs_opensim_rerun"] = _compare(ref[0], ref[1], rerun[0], rerun[1], mass)
    t, v, d1, d2 = opensim_states(osim, d / "gait2354" / "subject01_walk1_ik.mot", model_path, 6.0)
    same = same_states_id(model, imp, t, v, d1, d2, grf)
    spl = same_states_id(model, imp, t, v, d1, d2, grf, spline_knee=True)
    os_loads = opensim_loads(osim, model_path, loads, grf_file, t, tmp)
    same_l = same_states_id(model, imp, t, v, d1, d2, grf, loads=os_loads)
    spl_l = same_states_id(model, imp, t, v, d1, d2, grf, spline_knee=True, loads=os_loads)
    out["same_states_vs_opensim_rerun"] = _compare(t, same, rerun[0], rerun[1], mass)
    out["same_states_spline_knee_vs_opensim_rerun"] = _compare(t, spl, rerun[0], rerun[1], mass)
    out["same_states_same_grf_vs_opensim_rerun"] = _compare(t, same_l, rerun[0], rerun[1], mass)
    out["same_states_same_grf_spline_knee_vs_opensim_rerun"] = _compare(t, spl_l, rerun[0], rerun[1],
                                                                         mass)
    out["shipped_minus_rerun_regressed_on_grf"] = left_knee_regression(ref[0], ref[1], rerun[1], grf)
    return out


def run(osim, tmp: Path) -> dict:
    d = DATA / "hamner_run"
    mass, height = 65.9, 1.83
    scaled, adjusted = d / "models" / "subject02_scaled.osim", d / "models" / "subject02_RRA_Adjusted.osim"
    ik_path, rra_q_path = d / "IK" / "subject02_running_ik.mot", d / "RRA" / "rra_run_1_Kinematics_q.sto"
    loads = d / "experimental" / "External_Loads.xml"
    grf60_file = d / "experimental" / "subject02_running_grf.mot"
    grf60 = read_grf(grf60_file, loads_xml=loads)
    grf600 = read_grf(d / "experimental" / "subject02_grf_HiFreq_opensim-core-tests.mot", loads_xml=loads)
    ref = read_reference_moments(d / "RRA" / "rra_run_1_Actuation_force.sto", "legacy")
    ik = read_motion(ik_path)
    rra_q = read_motion(rra_q_path)
    imp_s, m_s = _import(scaled)
    _, m_s_frozen = _import(scaled, exact=False)
    imp_a, m_a = _import(adjusted)
    win = ik.slice_time(0.7, 1.6)
    win600 = ik.slice_time(grf600.time_s[0], grf600.time_s[-1])
    kw = dict(mass_kg=mass, height_m=height)
    ik15 = inverse_dynamics(win, m_s, grf60, cutoff_hz=15.0, grf_cutoff_hz=0.0, **kw)
    ik15_frozen = inverse_dynamics(win, m_s_frozen, grf60, cutoff_hz=15.0, grf_cutoff_hz=0.0, **kw)
    ik15_600 = inverse_dynamics(win600, m_s, grf600, cutoff_hz=15.0, grf_cutoff_hz=0.0, **kw)
    fair = inverse_dynamics(rra_q, m_a, grf60, cutoff_hz=None, grf_cutoff_hz=0.0, **kw)
    fair_scaled = inverse_dynamics(rra_q, m_s, grf60, cutoff_hz=None, grf_cutoff_hz=0.0, **kw)
    out = {
        "reference": "RRA/rra_run_1_Actuation_force.sto (RRA joint torques, 0.7-1.6 s)",
        "coupled_dof_fits": _fits(imp_s),
        "ik_scaled_model_cutoff15_grf60hz": _score(ik15, ref),
        "ik_scaled_model_frozen_knee_cutoff15_grf60hz": _score(ik15_frozen, ref),
        "ik_scaled_model_cutoff15_grf600hz_0.70-1.43s": _score(ik15_600, ref),
        "fair_rra_kinematics_adjusted_model_grf60hz": _score(fair, ref),
        "rra_kinematics_scaled_model_grf60hz": _score(fair_scaled, ref),
        "rra_kinematics_vs_ik_rms_deg": {
            c: _r(np.degrees(np.sqrt(np.mean((rra_q[c] - np.interp(rra_q.time_s, ik.time_s, ik[c])) ** 2))), 3)
            for c in ("hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l", "knee_angle_l",
                      "ankle_angle_l", "pelvis_tilt", "lumbar_extension")},
        "rra_residuals": "RRA/rra_run_1_avgResiduals.txt: mean FX 2.3 N, FY -0.9 N, MZ 18.8 N*m",
    }
    if osim is None:
        return out
    os_fair = opensim_id_tool(osim, adjusted, rra_q_path, loads, grf60_file, 0.7, 1.6, -1.0, tmp)
    out["opensim_id_of_rra_kinematics_vs_rra"] = _compare(os_fair[0], os_fair[1], ref[0], ref[1], mass)
    ours = fair.torques
    out["fair_vs_opensim_id_of_rra_kinematics"] = _compare(fair.time_s, ours, os_fair[0], os_fair[1], mass)
    t, v, d1, d2 = opensim_states(osim, rra_q_path, adjusted, -1.0, (0.7, 1.6))
    os_loads = opensim_loads(osim, adjusted, loads, grf60_file, t, tmp)
    same = same_states_id(m_a, imp_a, t, v, d1, d2, grf60)
    same_l = same_states_id(m_a, imp_a, t, v, d1, d2, grf60, loads=os_loads)
    out["rra_kinematics_same_states_linear_grf_vs_opensim_id"] = _compare(t, same, os_fair[0], os_fair[1], mass)
    out["rra_kinematics_same_states_same_grf_vs_opensim_id"] = _compare(t, same_l, os_fair[0], os_fair[1],
                                                                        mass)
    spl_l = same_states_id(m_a, imp_a, t, v, d1, d2, grf60, spline_knee=True, loads=os_loads)
    out["rra_kinematics_same_states_same_grf_spline_knee_vs_opensim_id"] = _compare(
        t, spl_l, os_fair[0], os_fair[1], mass)
    os_ik = opensim_id_tool(osim, scaled, ik_path, loads, grf60_file, 0.7, 1.6, 15.0, tmp)
    out["opensim_id_ik_cutoff15_vs_rra"] = _compare(os_ik[0], os_ik[1], ref[0], ref[1], mass)
    ours = ik15.torques
    out["ik_cutoff15_vs_opensim_id_same_inputs"] = _compare(ik15.time_s, ours, os_ik[0], os_ik[1], mass)
    t, v, d1, d2 = opensim_states(osim, ik_path, scaled, 15.0, (0.7, 1.6))
    os_loads = opensim_loads(osim, scaled, loads, grf60_file, t, tmp)
    same = same_states_id(m_s, imp_s, t, v, d1, d2, grf60)
    same_l = same_states_id(m_s, imp_s, t, v, d1, d2, grf60, loads=os_loads)
    out["ik_cutoff15_same_states_linear_grf_vs_opensim_id"] = _compare(t, same, os_ik[0], os_ik[1], mass)
    out["ik_cutoff15_same_states_same_grf_vs_opensim_id"] = _compare(t, same_l, os_ik[0], os_ik[1], mass)
    return out


def main() -> int:
    if not (DATA / "README.md").is_file():
        print(f"shared data not found at {DATA}: nothing to benchmark", file=sys.stderr)
        return 1
    warnings.simplefilter("ignore")
    osim = _opensim()
    if osim is not None:
        osim.Logger.setLevelString("error")
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="kintwin_id_osim_"))
    try:
        out = {"targets": TARGET, "subject01_walk_gait2354": walk(osim, tmp),
               "hamner_run": run(osim, tmp)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["bench_seconds"] = round(time.perf_counter() - t0, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
