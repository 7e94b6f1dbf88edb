"""Are the force plates in sync with the kinematics? ``dynamics.inverse_dynamics.plate_sync`` on
the shared trials whose plates see every foot (subject01 walk, hamner_run), as recorded and with
the plates' clock shifted by +50 and -80 ms: the shift it finds, its correlations and the mass
the plates weigh; and with a model 25 % heavier than the subject (a wrong --mass).

    .venv/bin/python bench/plate_sync.py     # bench/results/plate_sync.json
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_twin import DATA, REPO  # noqa: E402

TRIALS = {"subject01_walk": ("osim_subject01_walk/gait2354/subject01_walk1_ik.mot", 1.803, 72.6,
                             "osim_subject01_walk/experimental/subject01_walk1_grf.mot",
                             "osim_subject01_walk/experimental/subject01_walk1_grf.xml"),
          "hamner_run": ("hamner_run/IK/subject02_running_ik.mot", 1.83, 65.9,
                         "hamner_run/experimental/subject02_running_grf.mot",
                         "hamner_run/experimental/External_Loads.xml")}
SHIFTS_S = (0.0, 0.05, -0.08)


def main() -> int:
    from kintwin.dynamics.inverse_dynamics import plate_sync
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import build_model
    from kintwin.motion.grf import read_grf
    from kintwin.motion.kinematics_io import read_motion

    if not (DATA / "README.md").is_file():
        print(f"skipped: shared data not found at {DATA}")
        return 0
    result = {}
    for name, (ik, height, mass, grf_file, loads) in TRIALS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            motion = read_motion(DATA / ik)
        model = build_model(default_skeleton(height, mass))
        grf = read_grf(DATA / grf_file, loads_xml=DATA / loads)
        for shift in SHIFTS_S:
            sync = plate_sync(motion, model, replace(grf, time_s=grf.time_s + shift))
            result.setdefault(name, {})[f"{1000 * shift:+.0f}_ms"] = sync.to_dict()
            print(name, f"plates shifted {1000 * shift:+.0f} ms:", sync.to_dict(), flush=True)
        heavier = plate_sync(motion, build_model(default_skeleton(height, 1.25 * mass)), grf)
        result[name]["model_25pct_heavier"] = heavier.to_dict()
        print(name, "model 25 % heavier:", heavier.to_dict(), flush=True)
    path = REPO / "bench" / "results" / "plate_sync.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
