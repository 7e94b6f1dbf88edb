"""``kintwin ik`` on marker files written with another vertical than OpenSim's +Y.

subject01's walking and static TRC (``../shared/data/osim_subject01_walk/experimental``) are
written again as a Z-up lab would write them (``(x, y, z)_OpenSim -> (x, -z, y)``) and as a file
upside down; each goes through ``kintwin ik`` (with its static trial) and ``kintwin id`` (no
plates), and the joint angles are compared with the IK of the original files.

    .venv/bin/python bench/markers_vertical_axis.py     # bench/results/markers_vertical_axis.json
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_twin import DATA, REPO  # noqa: E402

WRITE_AS = {"y_up": lambda p: p,
            "z_up": lambda p: np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1),
            "upside_down": lambda p: np.stack([p[..., 0], -p[..., 1], -p[..., 2]], -1)}


def main() -> int:
    from kintwin.cli import main as kintwin
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.motion.trc import read_trc, write_trc

    exp = DATA / "osim_subject01_walk" / "experimental"
    if not exp.is_dir():
        print(f"skipped: shared data not found at {DATA}")
        return 0
    out = REPO / "runs" / "markers_vertical_axis"
    shutil.rmtree(out, ignore_errors=True)
    result = {}
    for name, f in WRITE_AS.items():
        d = out / name
        d.mkdir(parents=True)
        for trc in ("subject01_walk1.trc", "subject01_static.trc"):
            m = read_trc(exp / trc)
            write_trc(d / trc, replace(m, positions_m=f(m.positions_m)))
        rc_ik = kintwin(["ik", str(d / "subject01_walk1.trc"), "--static", str(d / "subject01_static.trc"),
                         "--height", "1.803", "--mass", "72.6", "--out", str(d / "ik")])
        ik = json.loads((d / "ik" / "ik_metrics.json").read_text())
        rc_id = kintwin(["id", str(d / "ik" / "kinematics.mot"), "--out", str(d / "id")])
        idm = json.loads((d / "id" / "metrics.json").read_text())["metrics"]
        result[name] = {"ik_exit": rc_ik, "marker_rmse_m": ik["marker_rmse_m"],
                        "vertical_axis_turned": {k: v.split(": ", 1)[1] for k, v in ik["vertical_axis_turned"].items()}, "id_exit": rc_id,
                        "id_residual_force_mean_pct_bw": idm.get("residual_force_mean_pct_bw")}
    base = read_motion(out / "y_up" / "ik" / "kinematics.mot")
    joints = [i for i, n in enumerate(base.names) if not n.startswith("pelvis_")]
    for name in WRITE_AS:
        m = read_motion(out / name / "ik" / "kinematics.mot")
        result[name]["max_joint_angle_difference_deg"] = float(
            np.degrees(np.abs(m.values[:, joints] - base.values[:, joints]).max()))
        print(name, json.dumps(result[name]), flush=True)
    path = REPO / "bench" / "results" / "markers_vertical_axis.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
