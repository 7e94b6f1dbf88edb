"""From markers to kinetics on lab trials the twin was never tuned on, scored by their plates.

For each trial: ``kintwin ik`` on the markers, then ``kintwin analyze --controller qp`` and
``kintwin id`` (contacts estimated from the kinematics), both on the skeleton the IK fitted (its
scales.json beside the kinematics), the plates only scoring:

* ``walking2``: OpenSim's ``walking2.c3d`` (Plug-in Gait markers, no static trial, 1.75 m / 70 kg
  assumed: the file gives neither); its own force plates (``--grf walking2.c3d``: each plate to
  the foot on it, the reactions cut to where every foot on the floor stands on a plate);
* ``subject01``: ``subject01_walk1.trc`` with ``subject01_static.trc`` (1.803 m, 72.6 kg), plates
  ``subject01_walk1_grf.mot``; 0.5-2.5 s, the span OpenSim's IK of the same trial shares, and the
  same twin on that OpenSim IK (``gait2392/subject01_walk1_ik.mot``) for comparison.

    .venv/bin/python bench/bench_markers_to_twin.py   # bench/results/markers_to_twin.json
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from paths import DATA, REPO  # noqa: E402
OUT = REPO / "runs" / "bench_markers_to_twin"
KEYS = ("completed", "completed_fraction", "ground_reactions_not_scored", "joint_angle_mae_deg",
        "residual_force_mean_pct_bw", "gait_event_error_ms", "gait_events_matched",
        "gait_events_missed", "grf_vertical_rmse_pct_bw", "grf_vertical_r",
        "grf_total_vertical_rmse_pct_bw", "grf_frames")


def trials() -> dict:
    w2, s01 = DATA / "osim_c3d_walking2", DATA / "osim_subject01_walk"
    plates = ["--grf", str(s01 / "experimental" / "subject01_walk1_grf.mot"),
              "--loads", str(s01 / "experimental" / "subject01_walk1_grf.xml")]
    return {
        "walking2": dict(ik=[str(w2 / "walking2.c3d"), "--height", "1.75", "--mass", "70",
                             "--ignore-unknown-markers"],
                         plates=["--grf", str(w2 / "walking2.c3d")], window=[]),
        "subject01": dict(ik=[str(s01 / "experimental" / "subject01_walk1.trc"), "--static",
                              str(s01 / "experimental" / "subject01_static.trc"),
                              "--height", "1.803", "--mass", "72.6"],
                          plates=plates, window=["--start", "0.5", "--end", "2.5"],
                          opensim_ik=str(s01 / "gait2392" / "subject01_walk1_ik.mot"),
                          subject=["--height", "1.803", "--mass", "72.6"]),
    }


def run(name: str, argv: list[str], out: Path, walls: dict) -> None:
    from kintwin.cli import main as kintwin

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    rc = kintwin([*argv, "--out", str(out)])
    if rc not in (0, 3):  # 3: finished, the result flagged as not trustworthy (recorded as such)
        raise SystemExit(f"kintwin {name} failed (exit {rc})")
    walls[name] = time.perf_counter() - t0


def scores(folder: Path) -> dict:
    m = json.loads((folder / "metrics.json").read_text())["metrics"]
    return {k: m[k] for k in KEYS if k in m}


def main() -> int:
    if not (DATA / "README.md").is_file():
        print(f"skipped: shared data not found at {DATA}")
        return 0
    result = {}
    for name, spec in trials().items():
        out, walls = OUT / name, {}
        kin = str(out / "ik" / "kinematics.mot")
        run("ik", ["ik", *spec["ik"]], out / "ik", walls)
        run("twin_qp", ["analyze", kin, "--controller", "qp", *spec["plates"], *spec["window"]],
            out / "twin_qp", walls)
        run("id_estimated", ["id", kin, "--compare-" + spec["plates"][0][2:], *spec["plates"][1:],
                             *spec["window"]], out / "id_estimated", walls)
        ik = json.loads((out / "ik" / "ik_metrics.json").read_text())
        result[name] = {"wall_s": walls,
                        "ik": {k: ik[k] for k in ("n_frames", "marker_rmse_m", "frames_left_out_s")},
                        "twin_qp": scores(out / "twin_qp"), "id_estimated": scores(out / "id_estimated")}
        if "opensim_ik" in spec:
            run("twin_qp_opensim_ik", ["analyze", spec["opensim_ik"], "--controller", "qp",
                                       *spec["subject"], *spec["plates"], *spec["window"]],
                out / "twin_qp_opensim_ik", walls)
            result[name]["twin_qp_opensim_ik"] = scores(out / "twin_qp_opensim_ik")
    path = REPO / "bench" / "results" / "markers_to_twin.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
