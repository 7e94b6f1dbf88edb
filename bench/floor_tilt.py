"""The controller twin and ``kintwin id`` on trials seen from a tilted capture frame, with and
without levelling (``sim/floor.py``, "Tilted floor").

A markerless capture sets its vertical from a calibration board; a board a degree or two off tilts
the whole trial, and an overground walk's stances then climb or descend: the feet float above the
floor at one end and sink at the other. This script pitches (about the lateral axis: the stances
climb along the walk) or rolls (about the walking direction) two overground walks and runs both
methods on each, once as they are now (levelled where a tilt is measured) and once with the
levelling switched off (``floor.MIN_TILT_T`` set to infinity: what they did before):

* ``walking2``: OpenSim's ``walking2.c3d`` through our marker IK (1.75 m / 70 kg, no static
  trial), scored against its own force plates (assigned to the feet by the levelled kinematics);
* ``sample``: the generated sample walk of ``kintwin demo`` (no plates: residuals only).

    .venv/bin/python bench/floor_tilt.py        # bench/results/floor_tilt.json

Needs ``../shared/data`` for walking2 (the sample runs without it).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_twin import DATA, REPO  # noqa: E402

TILTS = ((0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (0.0, 2.0))  # (pitch, roll) deg
KEYS = ("completed", "joint_angle_mae_deg", "grf_vertical_rmse_pct_bw", "grf_vertical_r",
        "residual_force_mean_pct_bw", "residual_moment_mean_pct_bw_height", "gait_event_error_ms")


def tilted(motion, pitch_deg: float, roll_deg: float):
    """``motion`` seen from a capture frame rolled about MuJoCo x (walking direction) and pitched
    about MuJoCo y, about the origin."""
    from kintwin.motion.frames import quat_mul

    a, b = np.radians(pitch_deg), np.radians(roll_deg)
    q = quat_mul(np.array([np.cos(b / 2), np.sin(b / 2), 0, 0]), np.array([np.cos(a / 2), 0, np.sin(a / 2), 0]))
    return motion.world_rotated(q, np.zeros(3))


def main() -> int:
    import kintwin.sim.floor as floor
    from kintwin.cli import main as kintwin
    from kintwin.motion.kinematics_io import read_motion, write_motion
    from kintwin.motion.sample import sample_walk

    out = REPO / "runs" / "floor_tilt"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    trials = {"sample": (sample_walk(), None, ["--height", "1.75", "--mass", "70"])}
    c3d = DATA / "osim_c3d_walking2" / "walking2.c3d"
    if c3d.is_file():
        ik = out / "walking2_ik"
        if kintwin(["ik", str(c3d), "--height", "1.75", "--mass", "70", "--ignore-unknown-markers",
                    "--out", str(ik)]) != 0:
            raise SystemExit("kintwin ik failed on walking2")
        trials["walking2"] = (read_motion(ik / "kinematics.mot"), ik / "scales.json", [])
    else:
        print(f"walking2 skipped: shared data not found at {DATA}")
    t_min = floor.MIN_TILT_T
    result = {"tilts_deg": TILTS, "trials": {}}
    for name, (motion, scales, subject) in trials.items():
        plates = ["--grf", str(c3d)] if name == "walking2" else []
        for pitch, roll in TILTS:
            tag = f"pitch{pitch:g}_roll{roll:g}"
            folder = out / name / tag
            folder.mkdir(parents=True)
            if scales is not None:  # the segment scales the IK solved with, beside the kinematics
                shutil.copy(scales, folder / "scales.json")
            trial = write_motion(folder / "kinematics.mot", tilted(motion, pitch, roll))
            entry = {}
            for arm, t in (("levelled", t_min), ("not_levelled", np.inf)):
                floor.MIN_TILT_T = t
                for method, argv in (("twin", ["analyze", str(trial), "--controller", "qp", *plates]),
                                     ("id", ["id", str(trial), *(["--compare-grf", str(c3d)] if plates else [])])):
                    d = folder / f"{method}_{arm}"
                    t0 = time.perf_counter()
                    rc = kintwin([*argv, *subject, "--out", str(d)])
                    js = json.loads((d / "metrics.json").read_text())
                    m = js.get("metrics", js)
                    entry[f"{method}_{arm}"] = {**{k: m.get(k) for k in KEYS if k in m}, "exit": rc,
                                                "wall_s": time.perf_counter() - t0,
                                                "floor_tilt": js["info"].get("floor_tilt")}
            floor.MIN_TILT_T = t_min
            result["trials"].setdefault(name, {})[tag] = entry
            print(name, tag, json.dumps({k: {kk: (round(vv, 3) if isinstance(vv, float) else vv)
                                             for kk, vv in v.items() if kk in KEYS}
                                         for k, v in entry.items()}), flush=True)
    path = REPO / "bench" / "results" / "floor_tilt.json"
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
