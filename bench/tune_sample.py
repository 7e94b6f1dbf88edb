"""Choose the frontal/transverse shape of the generated sample walk (``GaitShape``) so that the
trial is dynamically consistent on the built-in model.

Objective: the pelvis residual of the force-free inverse dynamics (contact forces estimated
under the feet by ``kintwin.dynamics.contact_estimation``), mean over frames of
``|F| / BW + |M| / (BW x height)``: zero when ground reactions inside the feet's friction cones
can produce the motion. Nelder-Mead from the textbook shape (pelvic list 4 deg, hip adduction
4 deg against it, pelvic rotation 5 deg, trunk counter-rotation, arm swing 0.6 x hip: pass
``--from-textbook``; default: from the current ``GaitShape``), within bounds that keep every
amplitude in the normal range of adult gait (visible arm swing kept).

    .venv/bin/python bench/tune_sample.py --from-textbook   # prints the GaitShape to paste into sample.py

Writes ``bench/results/tune_sample.json`` (start and final objective and shape).
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
from scipy.optimize import minimize

from kintwin.dynamics.contact_estimation import ContactOptions, solve_contact_forces
from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model
from kintwin.motion.sample import SAMPLE_HEIGHT_M, SAMPLE_MASS_KG, GaitShape, sample_walk
from kintwin.sim.reference import build_reference

from paths import REPO  # noqa: E402

#: normal adult ranges (deg, cycles, gain) of each field it tunes; the fields added to
#: ``GaitShape`` after this tuning (hip rotation gain, pelvis tilt, stride, ...) keep their defaults
BOUNDS = {"list_amp": (0.0, 7.0), "list_phase": (-0.25, 0.25), "adduction_amp": (-8.0, 8.0),
          "adduction_phase": (-0.25, 0.25), "rotation_amp": (0.0, 8.0),
          "lumbar_bending_amp": (-6.0, 6.0), "lumbar_rotation_amp": (-8.0, 8.0),
          "arm_swing": (-1.0, -0.3)}
FIELDS = list(BOUNDS)

MODEL = build_model(default_skeleton(SAMPLE_HEIGHT_M, SAMPLE_MASS_KG))
BW = SAMPLE_MASS_KG * 9.81


def residual(shape: GaitShape) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = build_reference(MODEL, [sample_walk(shape=shape)], 50.0).trials[0]
        qacc = np.gradient(tr.qvel, 1 / 50.0, axis=0)
        sol = solve_contact_forces(MODEL, tr.qpos, tr.qvel, qacc,
                                   ContactOptions(floor_height_m=0.0, ground_velocity_mps=(0.0, 0.0)),
                                   keep_armature=True, height_m=SAMPLE_HEIGHT_M)
    f = np.linalg.norm(sol.residual_force, axis=1) / BW
    m = np.linalg.norm(sol.residual_moment, axis=1) / (BW * SAMPLE_HEIGHT_M)
    return {"objective": float(np.mean(f + m)), "force_pct_bw": float(100 * f.mean()),
            "moment_nm": float(np.mean(m) * BW * SAMPLE_HEIGHT_M)}


TEXTBOOK = GaitShape(list_amp=4.0, list_phase=-0.05, adduction_amp=-4.0, adduction_phase=0.05,
                     rotation_amp=5.0, lumbar_bending_amp=-2.0, lumbar_rotation_amp=-4.0,
                     arm_swing=-0.6)


def main():
    import sys

    start = TEXTBOOK if "--from-textbook" in sys.argv else GaitShape()
    x0 = np.array([getattr(start, k) for k in FIELDS])
    lo, hi = (np.array([BOUNDS[k][i] for k in FIELDS]) for i in (0, 1))

    def shape_of(x):
        return GaitShape(**dict(zip(FIELDS, np.clip(x, lo, hi).tolist())))

    def cost(x):
        return residual(shape_of(x))["objective"] + 10.0 * np.sum(np.clip(lo - x, 0, None) + np.clip(x - hi, 0, None))

    before = residual(start)
    print("start", before)
    res = minimize(cost, x0, method="Nelder-Mead",
                   options={"maxfev": 400, "xatol": 0.05, "fatol": 1e-4, "initial_simplex": None})
    best = shape_of(res.x)
    after = residual(best)
    print("final", after)
    print(best)
    out = {"start": {"shape": dataclasses.asdict(start), **before},
           "final": {"shape": {k: round(v, 3) for k, v in dataclasses.asdict(best).items()}, **after},
           "evaluations": int(res.nfev)}
    path = REPO / "bench" / "results" / "tune_sample.json"
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
