"""Kinematic gait events (Zeni et al. 2008, ``analysis/gait_events``) on noisy kinematics, with
and without the low-pass of the foot points (``KINEMATIC_EVENTS_LOWPASS_HZ``; also 10 Hz).

The generated walk (4 s) resampled as a capture would give it (100, 60 or 30 Hz) with white noise
on every joint angle (deg) and pelvis translation (mm), against the clean walk's events (mean
absolute timing error, ms; events matched of those expected); and, where ../shared/data is
present, subject01's gait2354 IK and hamner_run's IK against their force plates (20 N).

    .venv/bin/python bench/kinematic_events_noise.py   # bench/results/kinematic_events_noise.json
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np

from paths import DATA, REPO

CAPTURES = ((100, 0, 0), (30, 0, 0), (30, 1, 0), (100, 2, 5), (60, 2, 5), (30, 2, 5))


def main() -> None:
    from kintwin.analysis import gait_events as ge
    from kintwin.motion.grf import read_grf
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.motion.sample import sample_walk

    cutoffs = {"raw": None, "6 Hz": ge.KINEMATIC_EVENTS_LOWPASS_HZ, "10 Hz": 10.0}

    def events(motion, cutoff):
        fp = ge.foot_points(motion)
        return ge.detect_from_foot_positions(fp.time_s, fp.heel, fp.toe, fp.pelvis,
                                             pelvis_forward=fp.pelvis_forward, lowpass_hz=cutoff)

    def score(found, truth):
        e = ge.gait_event_error_ms(found, truth)
        return {"error_ms": round(e["gait_event_error_ms"], 1), "matched": e["n_matched"],
                "expected": e["n_reference"]}

    result = {"generated_walk": {}, "against_plates": {}}
    clean = sample_walk(duration_s=4.0)
    truth = events(clean, None)
    for rate, deg, mm in CAPTURES:
        m = clean.resampled(rate)
        rng = np.random.default_rng(0)
        noise = np.where([n.startswith("pelvis_t") for n in m.names], mm / 1000, np.deg2rad(deg))
        m = dataclasses.replace(m, values=m.values + rng.normal(0.0, 1.0, m.values.shape) * noise)
        key = f"{rate} Hz, {deg} deg, {mm} mm"
        result["generated_walk"][key] = {name: score(events(m, c), truth) for name, c in cutoffs.items()}
        print(key, json.dumps(result["generated_walk"][key]), flush=True)
    trials = {"subject01 gait2354": ("osim_subject01_walk/gait2354/subject01_walk1_ik.mot",
                                     "osim_subject01_walk/experimental/subject01_walk1_grf.mot",
                                     "osim_subject01_walk/experimental/subject01_walk1_grf.xml"),
              "hamner_run": ("hamner_run/IK/subject02_running_ik.mot",
                             "hamner_run/experimental/subject02_running_grf.mot",
                             "hamner_run/experimental/External_Loads.xml")}
    for name, (ik, grf, xml) in trials.items():
        if not (DATA / ik).is_file():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m, plates = read_motion(DATA / ik), read_grf(DATA / grf, loads_xml=DATA / xml)
        truth = ge.events_from_grf(plates, ge.DEFAULT_THRESHOLD_N)
        result["against_plates"][name] = {k: score(events(m, c), truth) for k, c in cutoffs.items()}
        print(name, json.dumps(result["against_plates"][name]), flush=True)
    out = REPO / "bench" / "results" / "kinematic_events_noise.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
