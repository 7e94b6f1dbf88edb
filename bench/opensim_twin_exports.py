"""The twin's exports through OpenSim: does OpenSim's InverseDynamicsTool, given what ``kintwin
analyze`` wrote (``kinematics.mot``, ``grf.mot`` with ``grf_loads.xml``), find the joint moments
and pelvis residual force the twin reports (``torques.sto``, ``residuals.sto``)?

It checks two things at once: that OpenSim opens and applies the exports as they are meant
(coordinate names and units, the legacy knee sign, ground reactions per foot with their centre of
pressure and free torque, the ExternalLoads file), and that the twin's reported torques are the
inverse dynamics of its reported motion and ground reactions (its kinetics are physically
consistent, not just plausible).

Trials: subject01 walking, each IK on its own imported OpenSim model (``--osim``: the same bodies,
masses and joints in MuJoCo and OpenSim), the whole-body controller twin (``--controller qp``):
gait2354 IK 0.4-1.6 s and gait2392 IK 0.5-1.6 s (72.6 kg). OpenSim runs unfiltered
(``lowpass_cutoff_frequency_for_coordinates`` -1: its GCV splines differentiate the twin's 250 Hz
states), then BOTH moment series are compared raw and low-passed alike at 15 Hz (zero-lag
4th-order Butterworth, ``kintwin.motion.filtering.lowpass``): raw, OpenSim's second derivatives of
a simulation with impacts carry spikes that the twin's step-mean torques do not. The mtp moments
are listed apart: the ExternalLoads apply each foot's whole reaction to ``calcn``, so OpenSim's
toes carry no load, while the twin's toe sphere loads the toes in push-off (the moments proximal
to the mtp joint do not depend on which foot body the reaction is applied to).

Needs the optional ``opensim`` package (``pip install opensim``, OpenSim 4.6; not a kintwin
dependency) in an interpreter that also imports kintwin, and ``../shared/data``:

    /path/to/python-with-opensim-and-kintwin bench/opensim_twin_exports.py

Writes ``bench/results/opensim_twin_exports.json``; the twins' outputs go to
``runs/opensim_twin_exports/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from paths import DATA, REPO  # noqa: E402
OUT = REPO / "runs" / "opensim_twin_exports"
RESULTS = REPO / "bench" / "results" / "opensim_twin_exports.json"
CUTOFF_HZ = 15.0
S01 = DATA / "osim_subject01_walk"
TRIALS = {
    "subject01_gait2354": (S01 / "gait2354" / "subject01_walk1_ik.mot",
                           S01 / "gait2354" / "subject01_simbody.osim", (0.4, 1.6)),
    "subject01_gait2392": (S01 / "gait2392" / "subject01_walk1_ik.mot",
                           S01 / "gait2392" / "subject01_simbody.osim", (0.5, 1.6)),
}


def run_twin(trial: Path, model: Path, window, out: Path) -> None:
    from kintwin.cli import main as kintwin

    rc = kintwin(["analyze", str(trial), "--osim", str(model), "--mass", "72.6", "--start",
                  str(window[0]), "--end", str(window[1]), "--controller", "qp", "--out", str(out)])
    if rc != 0:
        sys.exit(f"kintwin analyze {trial} failed (exit {rc})")


def opensim_id(model_path: Path, twin: Path, out: Path) -> Path:
    """OpenSim's InverseDynamicsTool on the twin's exports, unfiltered; returns its .sto."""
    import opensim as osim

    model = osim.Model(str(model_path))
    tool = osim.InverseDynamicsTool()
    tool.setModel(model)
    tool.setCoordinatesFileName(str(twin / "kinematics.mot"))
    tool.setExternalLoadsFileName(str(twin / "grf_loads.xml"))
    tool.setLowpassCutoffFrequency(-1.0)
    kin = osim.Storage(str(twin / "kinematics.mot"))
    tool.setStartTime(kin.getFirstTime())
    tool.setEndTime(kin.getLastTime())
    excluded = osim.ArrayStr()
    excluded.append("Muscles")
    tool.setExcludedForces(excluded)
    tool.setResultsDir(str(out))
    tool.setOutputGenForceFileName("opensim_id.sto")
    if not tool.run():
        sys.exit(f"OpenSim's InverseDynamicsTool failed on {twin}")
    return out / "opensim_id.sto"


def compare(twin: Path, opensim_sto: Path, mass_kg: float) -> dict:
    from kintwin.analysis.metrics import SAGITTAL
    from kintwin.models.build import GRAVITY
    from kintwin.motion.filtering import lowpass
    from kintwin.motion.storage import read_table

    ours, theirs = read_table(twin / "torques.sto"), read_table(opensim_sto)
    t = ours.time_s
    rate = 1.0 / np.median(np.diff(t))
    edge = int(round(0.02 * rate))  # the filter's and the splines' ends
    core = slice(edge, len(t) - edge)

    def score(x, y, scale):
        out = {}
        filtered = (lowpass(x, rate, CUTOFF_HZ), lowpass(y, rate, CUTOFF_HZ))
        for tag, (a, b) in {"raw": (x, y), f"lowpass_{CUTOFF_HZ:g}hz": filtered}.items():
            d = (a - b)[core]
            r = np.corrcoef(a[core], b[core])[0, 1] if np.std(b[core]) > 1e-9 else float("nan")
            out[tag] = {"rmse": round(float(np.sqrt(np.mean(d ** 2)) / scale), 4),
                        "r": None if not np.isfinite(r) else round(float(r), 4)}
        return out

    moments = {}
    for label in ours.labels:
        if label in theirs.labels:
            y = np.interp(t, theirs.time_s, theirs.data[:, theirs.labels.index(label)])
            x = ours.data[:, ours.labels.index(label)]
            moments[label.removesuffix("_moment")] = score(x, y, mass_kg)
    res = read_table(twin / "residuals.sto")
    residual = {}
    for axis, name in zip("xyz", ("pelvis_tx_force", "pelvis_ty_force", "pelvis_tz_force")):
        y = np.interp(t, theirs.time_s, theirs.data[:, theirs.labels.index(name)])
        residual[axis] = score(res.data[:, res.labels.index(f"residual_force_{axis}")], y,
                               mass_kg * GRAVITY / 100.0)  # %BW
    summary = {}
    for tag in ("raw", f"lowpass_{CUTOFF_HZ:g}hz"):
        sag = [moments[c][tag]["rmse"] for c in SAGITTAL]
        rest = [v[tag]["rmse"] for k, v in moments.items() if not k.startswith("mtp")]
        summary[tag] = {"sagittal_hip_knee_ankle_rmse_nm_per_kg": round(float(np.mean(sag)), 4),
                        "worst_joint_except_mtp_rmse_nm_per_kg": round(float(max(rest)), 4),
                        "residual_force_rmse_pct_bw": round(float(np.mean(
                            [residual[a][tag]["rmse"] for a in "xyz"])), 3)}
    return {"frames": len(t), "rate_hz": round(float(rate), 3), "summary": summary,
            "moments_nm_per_kg": moments, "residual_force_pct_bw": residual}


def main() -> int:
    try:
        import opensim
    except ImportError:
        print("skipped: needs the optional opensim package (pip install opensim)")
        return 0
    if not (DATA / "README.md").is_file():
        print(f"skipped: shared data not found at {DATA}")
        return 0
    result = {"opensim": opensim.GetVersionAndDate(), "cutoff_hz": CUTOFF_HZ, "trials": {}}
    for name, (trial, model, window) in TRIALS.items():
        twin = OUT / name
        run_twin(trial, model, window, twin)
        sto = opensim_id(model, twin, OUT / f"{name}_opensim")
        mass = json.loads((twin / "metrics.json").read_text())["subject"]["mass_kg"]
        result["trials"][name] = compare(twin, sto, mass)
        print(name, json.dumps(result["trials"][name]["summary"]), flush=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
