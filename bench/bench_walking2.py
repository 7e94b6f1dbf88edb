"""A lab trial the twin was never tuned on: OpenSim's ``walking2.c3d`` from markers to kinetics.

``kintwin ik`` (Plug-in Gait markers, no static trial, 1.75 m / 70 kg assumed: the file gives
neither), then ``kintwin analyze --controller qp`` and ``kintwin id`` (contacts estimated from the
kinematics) with the C3D's force plates only scoring (``--grf walking2.c3d``, each plate given to
the foot standing on it). The plates see only part of the walk: plate 2 the left foot at
2.25-2.75 s, plate 1 the right foot at 2.67-3.24 s, while the right foot's previous stance (to
~2.35 s) and the left foot's next one (from ~3.15 s) are on the floor beside them. So the ground
reactions are scored over ``WINDOW`` (2.36-3.14 s), where every foot on the floor is on a plate;
metrics.json scores the whole trial and counts the unmeasured stances as errors.

    .venv/bin/python bench/bench_walking2.py    # bench/results/walking2.json; outputs in runs/
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
C3D = REPO.parent / "shared" / "data" / "osim_c3d_walking2" / "walking2.c3d"
OUT = REPO / "runs" / "bench_walking2"
WINDOW = (2.36, 3.14)  # s: every foot on the floor is on a plate
SUBJECT = ["--height", "1.75", "--mass", "70"]


def score(folder: Path, plates, bw_n: float) -> dict:
    """Per-foot vertical GRF of an output folder against the plates over ``WINDOW``."""
    from kintwin.motion.grf import read_grf

    grf = read_grf(folder / "grf.mot", loads_xml=folder / "grf_loads.xml")
    t = grf.time_s[(grf.time_s >= WINDOW[0]) & (grf.time_s <= WINDOW[1])]
    est = np.concatenate([np.interp(t, grf.time_s, grf.vertical_n(s)) for s in "rl"])
    ref = np.concatenate([np.interp(t, plates.time_s, plates.vertical_n(s)) for s in "rl"])
    per_foot = {s: float(100 * np.sqrt(np.mean((np.interp(t, grf.time_s, grf.vertical_n(s))
                                                 - np.interp(t, plates.time_s, plates.vertical_n(s))) ** 2))
                         / bw_n) for s in "rl"}
    return {"grf_vertical_rmse_pct_bw": float(100 * np.sqrt(np.mean((est - ref) ** 2)) / bw_n),
            "grf_vertical_r": float(np.corrcoef(est, ref)[0, 1]),
            "grf_vertical_rmse_pct_bw_per_foot": per_foot, "frames": int(len(t))}


def main() -> int:
    from kintwin.cli import main as kintwin
    from kintwin.motion.c3d import read_c3d
    from kintwin.motion.grf import from_force_plates

    if not C3D.is_file():
        print(f"skipped: {C3D} not found")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    walls = {}
    for name, argv in (
            ("ik", ["ik", str(C3D), *SUBJECT, "--ignore-unknown-markers"]),
            ("twin_qp", ["analyze", str(OUT / "ik" / "kinematics.mot"), "--controller", "qp", *SUBJECT,
                         "--grf", str(C3D)]),
            ("id_estimated", ["id", str(OUT / "ik" / "kinematics.mot"), *SUBJECT, "--compare-grf", str(C3D)])):
        folder = OUT / name
        if folder.exists():
            import shutil

            shutil.rmtree(folder)
        t0 = time.perf_counter()
        if kintwin([*argv, "--out", str(folder)]) != 0:
            raise SystemExit(f"kintwin {name} failed")
        walls[name] = time.perf_counter() - t0
    plates = from_force_plates(read_c3d(C3D, to_opensim=True)[1], {0: "r", 1: "l"})
    bw = 70.0 * 9.81
    ik = json.loads((OUT / "ik" / "ik_metrics.json").read_text())
    twin = json.loads((OUT / "twin_qp" / "metrics.json").read_text())["metrics"]
    result = {
        "window_s": WINDOW, "wall_s": walls,
        "ik": {k: ik[k] for k in ("n_frames", "marker_rmse_m", "frames_left_out_s")},
        "twin_qp": {**{k: twin.get(k) for k in ("completed", "joint_angle_mae_deg",
                                                "residual_force_mean_pct_bw", "gait_event_error_ms",
                                                "gait_events_matched", "grf_vertical_rmse_pct_bw")},
                    "window": score(OUT / "twin_qp", plates, bw)},
        "id_estimated": {"window": score(OUT / "id_estimated", plates, bw)},
    }
    path = REPO / "bench" / "results" / "walking2.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
