"""Flight phases of a reference made ballistic.

In flight (running, hopping, a jump) nothing but gravity acts on the body, so its centre of mass
falls at g. A reference low-passed at 6 Hz does not: the filter spreads the landing's and the
take-off's large upward accelerations into the flight (hamner_run: the reference's centre of
mass falls at 0.3-1.3 g between the steps), and a twin that tracks it there can only be held up
by the pelvis residual (62 % of hamner_run's residual fell in its flight frames).

``make_flights_ballistic`` finds the flights of the reference: every foot sphere more than
``FLIGHT_CLEARANCE_M`` above the support for at least ``MIN_FLIGHT_S``, with stance before and
after (a trial that starts or ends in the air has no take-off or landing in it to join), and the
centre of mass held up by less than ``MAX_FLIGHT_SUPPORT_BW`` on average (feet that IK leaves a
few mm in the air while the body is carried are not a flight). It then moves the pelvis
vertically by the smallest smooth offset ``d`` that puts the centre of mass on the parabola
falling at g nearest (least squares) to each flight's path::

    minimise   sum_{not flight} d_t^2 + SMOOTHING_S^4 sum_t (d''_t)^2
    subject to z_com,t + d_t = parabola_t   at every flight frame

(second differences at the reference's rate; one sparse KKT solve). The offset is a few mm
(hamner_run: at most 3.8 mm) and spreads into the neighbouring stances, whose accelerations change
with it: the stance now ends at the flight's take-off speed. Joint angles are not touched.

Measured on hamner_run (BENCHMARKS.md, issue 15; 10 calibration-depth jitters): residual 10.9 +-
1.2 -> 9.2 +- 0.5 %BW, per-foot vertical GRF 26.4 +- 7.0 -> 21.0 +- 3.7 %BW. Constraining only the
flight's acceleration to -g (and leaving its path where the filter put it) did not help
(29.9 +- 5.7 %BW); walking has no flight and is unchanged.
"""

from __future__ import annotations

import mujoco
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from ..models.build import GRAVITY
from ..motion.filtering import true_runs
from .floor import sphere_bottoms
from .reference import TrialReference, centre_of_mass
from .terrain import LEVEL_FLOOR, Terrain

#: a frame is in flight where every foot sphere's lowest point is this far above the support (m)
FLIGHT_CLEARANCE_M = 0.005
MIN_FLIGHT_S = 0.02  #: shorter stretches are not flights (s)
#: ... and where the reference's centre of mass is held up, on average over the stretch, by less
#: than this fraction of body weight (1 + z''/g): hamner_run's flight -0.05, the generated jump's
#: 0.12; feet that marker noise or a support misfit leaves a few mm in the air while the body is
#: carried are not in flight (subject01 through our IK with video-like marker noise: 0.75-1.46,
#: the generated step-up 0.98)
MAX_FLIGHT_SUPPORT_BW = 0.5
SMOOTHING_S = 0.04  #: time scale of the offset's smoothness term (s)


def flight_frames(model: mujoco.MjModel, qpos: np.ndarray, rate_hz: float,
                  terrain: Terrain = LEVEL_FLOOR) -> np.ndarray:
    """(T,) bool: the flights of ``qpos`` with stance before and after (module doc)."""
    height = terrain.above(sphere_bottoms(model, qpos))[..., 2].min(axis=1)
    dt = 1.0 / rate_hz
    support = 1.0 + np.gradient(np.gradient(centre_of_mass(model, qpos)[:, 2], dt), dt) / GRAVITY
    out = np.zeros(len(qpos), bool)
    for a, b in true_runs(height > FLIGHT_CLEARANCE_M, max(1, int(round(MIN_FLIGHT_S * rate_hz)))):
        if a > 0 and b < len(qpos) and support[a:b].mean() < MAX_FLIGHT_SUPPORT_BW:
            out[a:b] = True
    return out


def ballistic_offset(com_z: np.ndarray, flight: np.ndarray, rate_hz: float,
                     smoothing_s: float = SMOOTHING_S) -> np.ndarray:
    """(T,) vertical offset (m) that puts ``com_z`` on the parabola of each flight of ``flight``
    and moves the rest as little and as smoothly as it can (module doc); zeros without flights."""
    n = len(com_z)
    runs = true_runs(flight)
    if not runs:
        return np.zeros(n)
    dt = 1.0 / rate_hz
    target = np.zeros(n)
    for a, b in runs:  # the parabola falling at g nearest (least squares) to the flight's path
        t = np.arange(b - a) * dt
        fall = -0.5 * GRAVITY * t ** 2
        c = np.polyfit(t, com_z[a:b] - fall, 1)
        target[a:b] = np.polyval(c, t) + fall - com_z[a:b]
    inside = np.flatnonzero(flight)
    ones = np.ones(n - 2)
    D2 = sp.diags([ones, -2 * ones, ones], [0, 1, 2], shape=(n - 2, n), format="csr") / dt ** 2
    H = sp.diags((~np.asarray(flight, bool)).astype(float)) + smoothing_s ** 4 * (D2.T @ D2)
    A = sp.eye(n, format="csr")[inside]
    K = sp.bmat([[H, A.T], [A, None]], format="csc")
    return spl.spsolve(K, np.concatenate([np.zeros(n), target[inside]]))[:n]


def make_flights_ballistic(model: mujoco.MjModel, ref: TrialReference,
                           terrain: Terrain = LEVEL_FLOOR) -> dict:
    """Move ``ref``'s pelvis (qpos, qvel, qacc, in place) so that its flights are ballistic; what
    was done, for the run's info: the flights (s from the first frame) and the largest offset."""
    flight = flight_frames(model, ref.qpos, ref.rate_hz, terrain)
    d = ballistic_offset(centre_of_mass(model, ref.qpos)[:, 2], flight, ref.rate_hz)
    if flight.any():
        dt = 1.0 / ref.rate_hz
        v = np.gradient(d, dt)
        ref.qpos[:, 2] += d
        ref.qvel[:, 2] += v
        ref.qacc[:, 2] += np.gradient(v, dt)
    return {"flights_s": [[round(a / ref.rate_hz, 3), round(b / ref.rate_hz, 3)] for a, b in true_runs(flight)],
            "offset_max_mm": float(np.abs(d).max() * 1000)}


__all__ = ["FLIGHT_CLEARANCE_M", "MIN_FLIGHT_S", "SMOOTHING_S", "MAX_FLIGHT_SUPPORT_BW", "flight_frames", "ballistic_offset",
           "make_flights_ballistic"]
