"""How physical the generated sample walk (``kintwin demo``'s trial) is, and what the twin makes of it.

On ``sample_walk()`` (1.75 m, 70 kg, 2.2 s, built-in model):

* the reference itself: the lowest contact sphere's height over each foot's kinematic stance
  (``sim/floor.stance_clearance``, no calibration), the vertical, forward and lateral force its
  centre of mass asks for (m (g + z''), m x'', m y'' over whole cycles, %BW), and its kinematic
  gait events (Zeni) as stance and double-support percentages;
* ``kintwin id`` without force plates: the pelvis residual of the kinematics-only contact estimate
  (zero when forces under the feet can produce the motion);
* ``kintwin analyze`` (the controller twin, as ``kintwin demo``): completed, joint MAE, residual,
  gait event error (against the Zeni events), and per foot the peak and 99th percentile of the
  vertical GRF and the fraction of frames it carries more than 2 %BW.

    .venv/bin/python bench/sample_walk_consistency.py    # bench/results/sample_walk.json

Outputs under ``runs/sample_walk_consistency/``.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from kintwin.analysis.spatiotemporal import compute_for_motion
from kintwin.cli import main
from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model
from kintwin.motion.grf import read_grf
from kintwin.motion.kinematics_io import write_motion
from kintwin.motion.sample import sample_walk
from kintwin.sim import floor
from kintwin.sim.reference import centre_of_mass

from paths import REPO  # noqa: E402
OUT = REPO / "runs" / "sample_walk_consistency"


def com_forces_pct_bw(model, qpos, rate_hz, cycle_frames) -> dict:
    com = centre_of_mass(model, qpos)
    acc = np.gradient(np.gradient(com, 1 / rate_hz, axis=0), 1 / rate_hz, axis=0)[1:cycle_frames + 1]
    out = {}
    for i, axis in enumerate(("forward", "lateral", "vertical")):
        f = 100 * (acc[:, i] / 9.81 + (axis == "vertical"))
        out[axis] = [round(float(f.min()), 1), round(float(f.max()), 1)]
    return out


def main_bench() -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    walk = sample_walk()
    h, m = walk.subject.height_m, walk.subject.mass_kg
    trial = write_motion(OUT / "sample_walk.mot", walk)
    model = build_model(default_skeleton(h, m))
    qpos = walk.to_qpos(model, warn=False)
    cycle_frames = int(round(1.1 * walk.rate_hz))
    st = compute_for_motion(walk, model=model)
    ref = {"stance_clearance": floor.stance_clearance(model, qpos, walk.rate_hz),
           "com_force_range_pct_bw": com_forces_pct_bw(model, qpos, walk.rate_hz, cycle_frames),
           "stance_pct": st["stance_pct"], "double_support_pct_mean": st["double_support_pct_mean"],
           "speed_m_s": st["speed_m_s"]}
    args = ["--height", str(h), "--mass", str(m)]
    assert main(["id", str(trial), *args, "--out", str(OUT / "id")]) == 0
    idm = json.loads((OUT / "id" / "metrics.json").read_text())["metrics"]
    assert main(["analyze", str(trial), *args, "--out", str(OUT / "twin")]) in (0, 3)
    tw = json.loads((OUT / "twin" / "metrics.json").read_text())["metrics"]
    grf = read_grf(OUT / "twin" / "grf.mot", loads_xml=OUT / "twin" / "grf_loads.xml")
    bw = m * 9.81
    feet = {}
    for s in grf.sides:
        fz = 100 * grf.vertical_n(s) / bw
        feet[s] = {"peak_pct_bw": round(float(fz.max()), 1),
                   "p99_pct_bw": round(float(np.percentile(fz, 99)), 1),
                   "loaded_fraction": round(float(np.mean(fz > 2.0)), 3)}
    id_keys = ("residual_force_mean_pct_bw", "residual_moment_mean_pct_bw_height")
    twin_keys = ("completed", "joint_angle_mae_deg", "residual_force_mean_pct_bw", "gait_event_error_ms",
                 "com_vertical_hf_pct_bw")
    result = {"reference": ref, "id_without_plates": {k: idm[k] for k in id_keys},
              "controller_twin": {**{k: tw.get(k) for k in twin_keys}, "vertical_grf_by_foot": feet}}
    path = REPO / "bench" / "results" / "sample_walk.json"
    path.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(json.dumps(result, indent=1, default=float))
    return result


if __name__ == "__main__":
    sys.exit(0 if main_bench() else 1)
