"""A lab trial the twin was never tuned on: OpenSim's ``walking2.c3d`` from markers to kinetics.

``kintwin ik`` (Plug-in Gait markers, no static trial, 1.75 m / 70 kg assumed: the file gives
neither), then ``kintwin analyze --controller qp`` and ``kintwin id`` (contacts estimated from the
kinematics) with the C3D's force plates only scoring (``--grf walking2.c3d``: each plate given to
the foot standing on it, and the reactions cut to where every foot on the floor stands on a plate:
plate 2 has the left foot at 2.25-2.75 s, plate 1 the right at 2.67-3.24 s, while the right
foot's previous stance and the left foot's next one are on the floor beside them).

    .venv/bin/python bench/bench_walking2.py    # bench/results/walking2.json; outputs in runs/
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
C3D = REPO.parent / "shared" / "data" / "osim_c3d_walking2" / "walking2.c3d"
OUT = REPO / "runs" / "bench_walking2"
SUBJECT = ["--height", "1.75", "--mass", "70"]
KEYS = ("completed", "completed_fraction", "ground_reactions_not_scored", "joint_angle_mae_deg", "residual_force_mean_pct_bw", "gait_event_error_ms",
        "gait_events_matched", "gait_events_missed", "grf_vertical_rmse_pct_bw", "grf_vertical_r",
        "grf_total_vertical_rmse_pct_bw", "grf_frames")


def main() -> int:
    from kintwin.cli import main as kintwin
    from kintwin.motion.grf import read_grf

    if not C3D.is_file():
        print(f"skipped: {C3D} not found")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    walls = {}
    kin = str(OUT / "ik" / "kinematics.mot")
    for name, argv in (("ik", ["ik", str(C3D), *SUBJECT, "--ignore-unknown-markers"]),
                       ("twin_qp", ["analyze", kin, "--controller", "qp", *SUBJECT, "--grf", str(C3D)]),
                       ("id_estimated", ["id", kin, *SUBJECT, "--compare-grf", str(C3D)])):
        shutil.rmtree(OUT / name, ignore_errors=True)
        t0 = time.perf_counter()
        rc = kintwin([*argv, "--out", str(OUT / name)])
        if rc not in (0, 3):  # 3: finished, result flagged as not trustworthy (recorded as such)
            raise SystemExit(f"kintwin {name} failed (exit {rc})")
        walls[name] = time.perf_counter() - t0
    ik = json.loads((OUT / "ik" / "ik_metrics.json").read_text())
    scored = read_grf(OUT / "twin_qp" / "grf.mot", loads_xml=OUT / "twin_qp" / "grf_loads.xml")
    result = {"wall_s": walls,
              "ik": {k: ik[k] for k in ("n_frames", "marker_rmse_m", "frames_left_out_s")},
              "kinematics_s": [float(scored.time_s[0]), float(scored.time_s[-1])]}
    for name in ("twin_qp", "id_estimated"):
        m = json.loads((OUT / name / "metrics.json").read_text())["metrics"]
        result[name] = {k: m.get(k) for k in KEYS if k in m}
    path = REPO / "bench" / "results" / "walking2.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
