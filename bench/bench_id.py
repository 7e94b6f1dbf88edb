"""Inverse dynamics benchmark: accuracy against OpenSim references and speed on ONE core.

Trials (``../shared/data``, see its README; the script exits when the folder is absent):

* subject01 walking (gait2354 IK, 60 Hz, 0.4-1.6 s; force plates ``subject01_walk1_grf.mot``):
  - with force plates (``inverse_dynamics``) vs OpenSim ID (``gait2354/ID_inverse_dynamics.sto``);
  - without force plates (``contact_estimation``): GRF scored against the plates, moments against
    OpenSim ID (and, as a diagnostic, against our own force-plate ID).
* hamner_run (IK 60 Hz; HiFreq force plates 0.70-1.43 s; reference ``RRA/rra_run_1_Actuation_force
  .sto``, 0.7-1.6 s: RRA torques, i.e. from RRA-ADJUSTED kinematics and model):
  - with force plates on 0.70-1.43 s (cutoff 15 Hz as ``Setup_RRA.xml``; 6 Hz also reported);
  - without force plates on 0.6-1.6 s (1 s around the force-plate window, cutoff 6 Hz);
  - diagnostic: force-plate ID of RRA's own adjusted kinematics (no filter) vs RRA torques.

Model: the built-in anthropometric model scaled with ``osim_segment_scales`` of the subject's
scaled OpenSim model. Sagittal = hip_flexion, knee_angle, ankle_angle of both sides; RMSE in
N*m/kg (see ``kintwin.analysis.metrics``). Speed: whole pipeline (filter, kinematics, dynamics,
QP) in frames per second, one thread, CPU affinity pinned to one core, best of 5.

    .venv/bin/python bench/bench_id.py      # prints the JSON and writes bench/results/id.json
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from kintwin.analysis.metrics import SAGITTAL, compute_metrics, read_reference_moments  # noqa: E402
from kintwin.dynamics.contact_estimation import estimate_contacts  # noqa: E402
from kintwin.dynamics.inverse_dynamics import inverse_dynamics  # noqa: E402
from kintwin.models.anthropometry import default_skeleton  # noqa: E402
from kintwin.models.build import build_model  # noqa: E402
from kintwin.models.osim import osim_segment_scales  # noqa: E402
from kintwin.motion.grf import read_grf  # noqa: E402
from kintwin.motion.kinematics_io import read_motion  # noqa: E402

from paths import DATA, REPO  # noqa: E402
OUT = REPO / "bench" / "results" / "id.json"


def _r(x, n=4):
    if isinstance(x, dict):
        return {k: _r(v, n) for k, v in x.items()}
    return None if x is None or not np.isfinite(x) else round(float(x), n)


def _summary(m: dict) -> dict:
    out = {k: _r(v) for k, v in m.items() if not isinstance(v, dict) and not k.endswith("frames")}
    if "moment_rmse_nm_per_kg" in m:
        out["sagittal_rmse_nm_per_kg"] = {c: _r(m["moment_rmse_nm_per_kg"][c]) for c in SAGITTAL
                                          if c in m["moment_rmse_nm_per_kg"]}
        out["sagittal_r"] = {c: _r(m["moment_r"][c]) for c in SAGITTAL if c in m["moment_r"]}
    return out


def _speed(fn, n_frames: int, repeats: int = 5) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_frames / best


def _self_compare(a, b) -> dict:
    """RMSE (N*m/kg) of a's sagittal moments against b's (same frames)."""
    return {c: _r(np.sqrt(np.mean((a.torque(c) - b.torque(c)) ** 2)) / a.mass_kg) for c in SAGITTAL}


def walk() -> dict:
    d = DATA / "osim_subject01_walk"
    mass, height = 72.6, 1.803
    model = build_model(default_skeleton(height, mass, osim_segment_scales(
        d / "gait2354" / "subject01_simbody.osim")))
    motion = read_motion(d / "gait2354" / "subject01_walk1_ik.mot")
    grf = read_grf(d / "experimental" / "subject01_walk1_grf.mot",
                   loads_xml=d / "experimental" / "subject01_walk1_grf.xml")
    ref = read_reference_moments(d / "gait2354" / "ID_inverse_dynamics.sto", "legacy")

    fp = inverse_dynamics(motion, model, grf, mass_kg=mass, height_m=height)
    plain = build_model(default_skeleton(height, mass))  # height/mass only: no segment scales
    fp_plain = inverse_dynamics(motion, plain, grf, mass_kg=mass, height_m=height)
    ce_plain = estimate_contacts(motion, plain, mass_kg=mass, height_m=height)
    fp_raw = inverse_dynamics(motion, model, grf, grf_cutoff_hz=0.0, mass_kg=mass, height_m=height)
    ce = estimate_contacts(motion, model, mass_kg=mass, height_m=height)
    n = motion.n_frames
    return {
        "frames": n, "time_s": [float(motion.time_s[0]), float(motion.time_s[-1])],
        "with_force_plates": {
            **_summary(compute_metrics(fp, reference_moments=ref)),
            "grf_unfiltered_as_opensim": _summary(compute_metrics(fp_raw, reference_moments=ref)),
            "height_mass_only_model": _summary(compute_metrics(fp_plain, reference_moments=ref)),
            "frames_per_s": _r(_speed(lambda: inverse_dynamics(motion, model, grf), n), 0)},
        "without_force_plates": {
            **_summary(compute_metrics(ce, reference_grf=grf, reference_moments=ref)),
            "sagittal_rmse_vs_our_force_plate_id_nm_per_kg": _self_compare(ce, fp),
            "height_mass_only_model": _summary(compute_metrics(ce_plain, reference_grf=grf,
                                                               reference_moments=ref)),
            "floor_height_m": _r(ce.info["floor_height_m"]),
            "ground_velocity_mps": [_r(v, 3) for v in ce.info["ground_velocity_mps"]],
            "frames_per_s": _r(_speed(lambda: estimate_contacts(motion, model), n), 0)},
    }


def run() -> dict:
    d = DATA / "hamner_run"
    mass, height = 65.9, 1.83
    scales = osim_segment_scales(d / "models" / "subject02_scaled.osim",
                                 generic=d / "models" / "FullBodyModel_Hamner2010_v2_0_generic.osim")
    bodies = {b.name for b in default_skeleton(height, mass).bodies}
    model = build_model(default_skeleton(height, mass, {k: v for k, v in scales.items()
                                                         if k in bodies}))
    ik = read_motion(d / "IK" / "subject02_running_ik.mot")
    grf = read_grf(d / "experimental" / "subject02_grf_HiFreq_opensim-core-tests.mot",
                   loads_xml=d / "experimental" / "External_Loads.xml")
    ref = read_reference_moments(d / "RRA" / "rra_run_1_Actuation_force.sto", "legacy")
    window_fp = ik.slice_time(grf.time_s[0], grf.time_s[-1])
    window_ce = ik.slice_time(0.6, 1.6)

    fp15 = inverse_dynamics(window_fp, model, grf, cutoff_hz=15.0, mass_kg=mass, height_m=height)
    fp6 = inverse_dynamics(window_fp, model, grf, cutoff_hz=6.0, mass_kg=mass, height_m=height)
    rra_q = read_motion(d / "RRA" / "rra_run_1_Kinematics_q.sto").slice_time(grf.time_s[0],
                                                                              grf.time_s[-1])
    fp_rra = inverse_dynamics(rra_q, model, grf, cutoff_hz=None, grf_cutoff_hz=0.0, mass_kg=mass,
                              height_m=height)
    ce = estimate_contacts(window_ce, model, cutoff_hz=6.0, mass_kg=mass, height_m=height)
    fp6_on_ce = inverse_dynamics(window_fp, model, grf, cutoff_hz=6.0, mass_kg=mass, height_m=height)
    keep = (ce.time_s >= fp6_on_ce.time_s[0] - 1e-9) & (ce.time_s <= fp6_on_ce.time_s[-1] + 1e-9)
    ce_vs_fp = {c: _r(np.sqrt(np.mean((ce.torque(c)[keep] - np.interp(
        ce.time_s[keep], fp6_on_ce.time_s, fp6_on_ce.torque(c))) ** 2)) / mass) for c in SAGITTAL}
    return {
        "frames_with_force_plates": window_fp.n_frames, "frames_without": window_ce.n_frames,
        "with_force_plates_cutoff15": _summary(compute_metrics(fp15, reference_moments=ref)),
        "with_force_plates_cutoff6": _summary(compute_metrics(fp6, reference_moments=ref)),
        "diagnostic_rra_kinematics_unfiltered_vs_rra": _summary(
            compute_metrics(fp_rra, reference_moments=ref)),
        "without_force_plates": {
            **_summary(compute_metrics(ce, reference_grf=grf, reference_moments=ref)),
            "sagittal_rmse_vs_our_force_plate_id_nm_per_kg": ce_vs_fp,
            "floor_height_m": _r(ce.info["floor_height_m"]),
            "ground_velocity_mps": [_r(v, 3) for v in ce.info["ground_velocity_mps"]],
            "frames_per_s": _r(_speed(lambda: estimate_contacts(window_ce, model), window_ce.n_frames),
                               0)},
    }


def main() -> int:
    if not (DATA / "README.md").is_file():
        print(f"shared data not found at {DATA}: nothing to benchmark", file=sys.stderr)
        return 1
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    out = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or
                       platform.machine(), "threads": 1},
           "targets": {"with_force_plates_sagittal_rmse_nm_per_kg": 0.10,
                       "without_grf_vertical_rmse_pct_bw": 10.0, "without_grf_vertical_r": 0.95,
                       "without_sagittal_rmse_nm_per_kg": 0.20, "frames_per_s": 500},
           "subject01_walk": walk(), "hamner_run": run()}
    out["bench_seconds"] = round(time.perf_counter() - t0, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
