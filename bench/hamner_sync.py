"""Are hamner_run's kinematics and force plates in sync? The total vertical ground force implied
by the IK's whole-body centre of mass, m (g + z''_COM), against the plates' total vertical force,
cross-correlated over the whole 60 Hz trial (0-10 s), both low-passed alike (8 and 12 Hz).
Built-in model scaled to 1.83 m / 65.9 kg; the plates only score.

    .venv/bin/python bench/hamner_sync.py     # bench/results/hamner_sync.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mujoco
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_twin import DATA, REPO  # noqa: E402


def main():
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import GRAVITY, build_model
    from kintwin.motion.filtering import lowpass
    from kintwin.motion.grf import read_grf
    from kintwin.motion.kinematics_io import read_motion

    run = DATA / "hamner_run"
    if not run.is_dir():
        sys.exit(f"no shared data at {run}: nothing measured")
    motion = read_motion(run / "IK" / "subject02_running_ik.mot")
    grf = read_grf(run / "experimental" / "subject02_running_grf.mot", foot_of={"ground": "r", "1_ground": "l"})
    mass = 65.9
    model = build_model(default_skeleton(1.83, mass))
    data = mujoco.MjData(model)
    z = []
    for q in motion.to_qpos(model, warn=False):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        z.append(data.subtree_com[1][2])
    t, rate = motion.time_s, motion.rate_hz
    plates = np.interp(t, grf.time_s, sum(grf.vertical_n(s) for s in grf.sides))
    inside = (t > 0.5) & (t < t[-1] - 0.5)
    result = {"frames": int(len(t)), "rate_hz": float(rate), "lags_frames": list(range(-6, 7))}
    for cutoff in (8.0, 12.0):
        acc = np.gradient(np.gradient(lowpass(np.asarray(z), rate, cutoff), 1 / rate), 1 / rate)
        com_force = mass * (GRAVITY + acc)
        plate_force = lowpass(plates, rate, cutoff)
        r = [float(np.corrcoef(com_force[inside], np.roll(plate_force, lag)[inside])[0, 1])
             for lag in result["lags_frames"]]
        best = int(np.argmax(r))
        result[f"{cutoff:g}_hz"] = {"r_by_lag": r, "best_lag_frames": result["lags_frames"][best],
                                    "r_at_zero_lag": r[result["lags_frames"].index(0)],
                                    "rmse_pct_bw": float(100 * np.sqrt(np.mean(
                                        (com_force - plate_force)[inside] ** 2)) / (mass * GRAVITY))}
        print(f"{cutoff:g} Hz: r at zero lag {result[f'{cutoff:g}_hz']['r_at_zero_lag']:.4f}, "
              f"best lag {result[f'{cutoff:g}_hz']['best_lag_frames']} frames")
    out = REPO / "bench" / "results" / "hamner_sync.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
