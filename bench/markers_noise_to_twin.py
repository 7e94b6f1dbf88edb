"""From noisy markers to kinetics: how video-like marker noise reaches the twin's ground reactions.

Video keypoints (markerless capture) are noisier than lab markers. This adds noise to every
marker of ``subject01_walk1.trc`` (not to its static trial), then runs the pipeline of
``bench_markers_to_twin.py``: ``kintwin ik`` (with ``subject01_static.trc``, 1.803 m / 72.6 kg),
``kintwin analyze --controller qp`` and ``kintwin id`` (contacts estimated from the kinematics)
over 0.5-2.5 s; the plates (``subject01_walk1_grf.mot``) only score. Noise per marker and axis, in
mm: white (independent per frame) plus smooth (white noise low-passed at 2 Hz, scaled to the
given standard deviation), seed 1.

    .venv/bin/python bench/markers_noise_to_twin.py   # bench/results/markers_noise_to_twin.json

Outputs under ``runs/markers_noise_to_twin/``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np
from scipy.signal import butter, filtfilt

from paths import DATA as SHARED_DATA, REPO  # noqa: E402

DATA = SHARED_DATA / "osim_subject01_walk" / "experimental"
OUT = REPO / "runs" / "markers_noise_to_twin"
LEVELS_MM = ((0, 0), (5, 5), (10, 10), (20, 10))  # (white, smooth) standard deviations
KEYS = ("completed", "joint_angle_mae_deg", "grf_vertical_rmse_pct_bw", "grf_vertical_r",
        "residual_force_mean_pct_bw", "gait_event_error_ms", "com_vertical_hf_pct_bw")


def noisy(markers, white_mm: float, smooth_mm: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = markers.positions_m.copy()
    b, a = butter(2, 2.0 / (0.5 * markers.rate_hz))
    smooth = filtfilt(b, a, rng.normal(0.0, 1.0, x.shape), axis=0)
    x += rng.normal(0.0, white_mm / 1000, x.shape) + smooth * (smooth_mm / 1000 / smooth.std())
    return replace(markers, positions_m=x)


def main() -> int:
    from kintwin.cli import main as kintwin
    from kintwin.motion.trc import read_trc, write_trc

    if not DATA.is_dir():
        print(f"skipped: shared data not found at {DATA}")
        return 0
    plates = ["--grf", str(DATA / "subject01_walk1_grf.mot"), "--loads", str(DATA / "subject01_walk1_grf.xml")]
    window = ["--start", "0.5", "--end", "2.5"]
    markers = read_trc(DATA / "subject01_walk1.trc")
    result = {}
    for white, smooth in LEVELS_MM:
        out = OUT / f"white{white}_smooth{smooth}"
        out.mkdir(parents=True, exist_ok=True)
        trc = write_trc(out / "markers.trc", noisy(markers, white, smooth))
        for argv in (["ik", str(trc), "--static", str(DATA / "subject01_static.trc"), "--height", "1.803",
                      "--mass", "72.6", "--out", str(out / "ik")],
                     ["analyze", str(out / "ik" / "kinematics.mot"), "--controller", "qp", *plates, *window,
                      "--out", str(out / "twin")],
                     ["id", str(out / "ik" / "kinematics.mot"), "--compare-grf", *plates[1:], *window,
                      "--out", str(out / "id")]):
            if kintwin(argv) not in (0, 3):  # 3: finished, flagged as not trustworthy
                raise SystemExit(f"kintwin {argv[0]} failed")
        ik = json.loads((out / "ik" / "ik_metrics.json").read_text())
        twin = json.loads((out / "twin" / "metrics.json").read_text())["metrics"]
        idm = json.loads((out / "id" / "metrics.json").read_text())["metrics"]
        result[f"white{white}_smooth{smooth}_mm"] = {
            "ik_marker_rmse_m": ik["marker_rmse_m"], "twin_qp": {k: twin.get(k) for k in KEYS},
            "id_estimated": {k: idm.get(k) for k in ("grf_vertical_rmse_pct_bw", "grf_vertical_r",
                                                     "residual_force_mean_pct_bw")}}
        print(white, smooth, json.dumps(result[f"white{white}_smooth{smooth}_mm"]), flush=True)
    path = REPO / "bench" / "results" / "markers_noise_to_twin.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
